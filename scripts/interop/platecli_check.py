#!/usr/bin/env python3
"""Cross-checks the printer simulator with an independent client: the PyPI package `platecli`
(the `plate` command: paho-mqtt, implicit FTPS on the fixed port 990 and the port-6000 camera
grab, every connection pinned to the printer certificate's SHA-256) runs as a user would run
it, from its own config file, against each printer of printers.json that the simulator started
with --standard-ports: status with AMS, upload, the file list, start (`file:///sdcard/model/<name>`,
the one URL form platecli sends), pause/resume/stop, the light and a camera snapshot (JPEG on
P1/A1; platecli reaches X1 cameras only through a Docker RTSP streamer, so that step is skipped
and the stage's ffprobe/ffmpeg read the RTSPS stream instead).

Usage: platecli_check.py PRINTERS_JSON STATE_DIR MODEL...   (one line per step; exit 1 on a failure)"""

import json
import os
import subprocess
import sys
import tempfile

from common import Steps, leaf_sha256, printers, project_3mf

PLATE = os.path.join(os.path.dirname(sys.executable), "plate")


def plate(steps, model, home, *args, want_json=True):
    env = dict(os.environ, XDG_CONFIG_HOME=home, HOME=home, NO_COLOR="1")
    cmd = [PLATE] + (["--json"] if want_json else []) + list(args)
    run = subprocess.run(cmd, env=env, cwd=home, capture_output=True, text=True, timeout=90)
    if run.returncode != 0:
        steps.fail(model, f"`plate {' '.join(args)}` exited {run.returncode}: {run.stdout[-800:]} {run.stderr[-800:]}")
    if not want_json:
        return run.stdout
    # --json prints one (indented) JSON document after any log lines.
    lines = run.stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("{")), None)
    if start is None:
        steps.fail(model, f"`plate {' '.join(args)}` printed no JSON: {run.stdout[-800:]} {run.stderr[-800:]}")
    out = json.loads("\n".join(lines[start:]))
    if out.get("status") != "ok" and "error" in json.dumps(out).lower()[:200]:
        steps.fail(model, f"`plate {' '.join(args)}` answered {json.dumps(out)[:800]}")
    return out


def status(steps, model, home):
    """`plate status`: `printer` is the merged report, `ams` platecli's reading of it."""
    return plate(steps, model, home, "status")


def wait_state(steps, model, home, want):
    return steps.wait(model, f"gcode_state {want}",
                      lambda: status(steps, model, home)["printer"]["gcode_state"] == want, seconds=30)


def check(steps, model, p, state_dir):
    if (p["mqtt_port"], p["ftps_port"], p["camera_port"]) != (8883, 990, 6000 if model == "P1S" else 322):
        steps.fail(model, "platecli needs the real ports (the simulator was not started with --standard-ports)")
    home = tempfile.mkdtemp(prefix="platecli-")
    os.makedirs(f"{home}/bambu")
    with open(f"{home}/bambu/access_code", "w") as f:
        f.write(p["access_code"] + "\n")
    os.chmod(f"{home}/bambu/access_code", 0o600)
    with open(os.open(f"{home}/bambu/config.json", os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        json.dump({
            "printer_ip": p["host"],
            "serial": p["serial"],
            "model": model,
            "access_code_file": f"{home}/bambu/access_code",
            "cert_fingerprint": leaf_sha256(p, state_dir),
        }, f)

    s = status(steps, model, home)
    state = s.get("printer", {}).get("gcode_state")
    if not state:
        steps.fail(model, f"status has no gcode_state: {json.dumps(s)[:600]}")
    steps.ok(model, f"status over MQTT pinned to the certificate: gcode_state={state}")
    trays = [t for unit in (s.get("ams") or {}).get("units", []) for t in unit.get("trays", [])]
    if not any(t.get("type") and not t.get("empty") for t in trays):
        steps.fail(model, f"status has no AMS trays with a filament type: {json.dumps(s.get('ams'))[:600]}")
    steps.ok(model, f"AMS: {len(trays)} trays, first {trays[0]['type']} #{trays[0]['color']} {trays[0]['remain']}%")

    name = f"interop-plate-{model.lower()}.gcode.3mf"
    local = os.path.join(home, name)
    with open(local, "wb") as f:
        f.write(project_3mf())
    up = plate(steps, model, home, "upload", local)
    if up.get("size_verified") is not True:
        steps.fail(model, f"platecli could not verify the upload with SIZE: {json.dumps(up)[:600]}")
    listed = json.dumps(plate(steps, model, home, "files"))
    if name not in listed:
        steps.fail(model, f"the upload is not listed: {listed[:600]}")
    steps.ok(model, "FTPS upload to /model/ on port 990 (pinned; SIZE matched) and listing")

    plate(steps, model, home, "print", name, "--confirm")
    wait_state(steps, model, home, "RUNNING")
    steps.ok(model, f"start with url file:///sdcard/model/{name} (RUNNING)")
    plate(steps, model, home, "pause", "--confirm")
    wait_state(steps, model, home, "PAUSE")
    plate(steps, model, home, "resume", "--confirm")
    wait_state(steps, model, home, "RUNNING")
    steps.ok(model, "pause and resume")
    plate(steps, model, home, "stop", "--confirm")
    wait_state(steps, model, home, "FAILED")
    steps.ok(model, "stop (FAILED)")

    for mode in ("on", "off"):
        plate(steps, model, home, "light", mode)
        steps.wait(model, f"chamber_light {mode}", lambda: any(
            l.get("node") == "chamber_light" and l.get("mode") == mode
            for l in status(steps, model, home)["printer"].get("lights_report", [])), seconds=15)
    steps.ok(model, "light on and off (lights_report)")

    if model == "X1C":
        steps.skip(model, "camera", "platecli reaches X1 cameras only through a Docker RTSP streamer; ffprobe/ffmpeg read the RTSPS stream")
        return
    out = os.path.join(home, "snap.jpg")
    plate(steps, model, home, "snapshot", "--output", out)
    data = open(out, "rb").read()
    if not (data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"):
        steps.fail(model, f"the snapshot is not a JPEG ({len(data)} bytes)")
    steps.ok(model, f"camera snapshot on port 6000 (pinned): a {len(data)}-byte JPEG")


def main():
    path, state_dir, models = sys.argv[1], sys.argv[2], sys.argv[3:]
    found = printers(path)
    steps = Steps("platecli")
    for model in models:
        if model not in found:
            steps.fail(model, f"no such printer in {path}")
        check(steps, model, found[model], state_dir)
    steps.done()


if __name__ == "__main__":
    main()
