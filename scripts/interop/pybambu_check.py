#!/usr/bin/env python3
"""Cross-checks the printer simulator with an independent client: the PyPI package `pybambu`
1.0.1 (the client library of the ha-bambulab Home Assistant integration, as published on its
own: paho-mqtt 1.x on the fixed port 8883, the port-6000 JPEG thread on P1/A1, the X1's
`ipcam.rtsp_url`) against each printer of printers.json that the simulator started with
--standard-ports: status (after its `get_version` and `pushall`), AMS (units from
`get_version`'s modules, trays from the report), pause/resume/stop with its own command
objects, the chamber light, and the camera (JPEG frames on the P1S; on the X1C the RTSPS URL
pybambu reads from the report, handed to ffprobe with the access code). pybambu 1.0.1 has no
FTPS client and no print command: those steps are skipped, and the job it pauses is started
through the simulator's control socket as a slicer would, for the file bpm_check uploaded.

Usage: pybambu_check.py PRINTERS_JSON STATE_DIR MODEL...   (one line per step; exit 1 on a failure)"""

import json
import logging
import socket
import subprocess
import sys

from pybambu import BambuClient
from pybambu.commands import PAUSE, RESUME, STOP

from common import Steps, printers


def control(state_dir, request):
    """One request to the simulator's control socket (printwarden simulate's DIR/control.sock)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(f"{state_dir}/control.sock")
        s.sendall((json.dumps(request) + "\n").encode())
        answer = s.makefile().readline()
    return json.loads(answer)


def check(steps, model, p, state_dir):
    if (p["mqtt_port"], p["camera_port"]) != (8883, 6000 if model == "P1S" else 322):
        steps.fail(model, "pybambu needs the real ports (the simulator was not started with --standard-ports)")
    client = BambuClient(device_type=model, serial=p["serial"], host=p["host"], local_mqtt=True,
                         region="", email="", username="bblp", auth_token="", access_code=p["access_code"])
    client.connect(callback=lambda event: None)
    device = client.get_device()
    try:
        steps.wait(model, "a status report", lambda: device.print_job.gcode_state != "unknown")
        steps.wait(model, "get_version", lambda: device.info.sw_ver)
        steps.ok(model, f"status: gcode_state={device.print_job.gcode_state}, firmware {device.info.sw_ver}, "
                        f"nozzle {device.temperature.nozzle_temp} °C")

        unit = steps.wait(model, "an AMS unit from get_version with trays from the report",
                          lambda: device.ams.data[0] if device.ams.data[0] and device.ams.data[0].serial
                          and device.ams.data[0].tray[0].type else None)
        tray = unit.tray[0]
        steps.ok(model, f"AMS: unit {unit.serial} (hw {unit.hw_version}), tray 1 {tray.type} {tray.color}")

        steps.skip(model, "upload", "pybambu 1.0.1 has no FTPS client")
        name = f"interop-bpm-{model.lower()}.gcode.3mf"
        started = control(state_dir, {"command": "print_from_elsewhere", "serial": p["serial"], "path": name})
        if not started.get("ok"):
            steps.fail(model, f"the control socket could not start {name} (bpm_check uploads it): {started}")
        steps.skip(model, "start", "pybambu 1.0.1 has no print command; started from the control socket as a slicer would")
        steps.wait(model, "RUNNING", lambda: device.print_job.gcode_state == "RUNNING", seconds=30)
        client.publish(PAUSE)
        steps.wait(model, "PAUSE", lambda: device.print_job.gcode_state == "PAUSE")
        client.publish(RESUME)
        steps.wait(model, "RUNNING after resume", lambda: device.print_job.gcode_state == "RUNNING")
        steps.ok(model, "pause and resume")
        client.publish(STOP)
        steps.wait(model, "FAILED after stop", lambda: device.print_job.gcode_state == "FAILED")
        steps.ok(model, "stop (FAILED)")

        device.lights.TurnChamberLightOn()
        steps.wait(model, "the chamber light reported on",
                   lambda: device.lights.chamber_light == "on" and device.lights.chamber_light_override == "")
        device.lights.TurnChamberLightOff()
        steps.wait(model, "the chamber light reported off",
                   lambda: device.lights.chamber_light == "off" and device.lights.chamber_light_override == "")
        steps.ok(model, "chamber light on and off (lights_report)")

        if model == "P1S":
            jpeg = steps.wait(model, "a camera frame", lambda: bytes(device.chamber_image.get_jpeg()))
            if not (jpeg[:2] == b"\xff\xd8" and jpeg[-2:] == b"\xff\xd9"):
                steps.fail(model, f"the camera frame is not a JPEG ({len(jpeg)} bytes)")
            steps.ok(model, f"camera: a {len(jpeg)}-byte JPEG from its port-6000 thread")
        else:
            url = steps.wait(model, "ipcam.rtsp_url", lambda: device.camera.rtsp_url)
            if not url.startswith("rtsps://"):
                steps.fail(model, f"rtsp_url is {url!r}")
            with_code = url.replace("rtsps://", f"rtsps://bblp:{p['access_code']}@", 1)
            probe = subprocess.run(["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-select_streams", "v:0",
                                    "-show_entries", "stream=codec_name", "-of", "csv=p=0", with_code],
                                   capture_output=True, text=True, timeout=60)
            if probe.stdout.strip() != "h264":
                steps.fail(model, f"ffprobe read {probe.stdout.strip()!r} at pybambu's {url}: {probe.stderr[-400:]}")
            steps.ok(model, f"camera: pybambu's rtsp_url {url} plays as h264 (ffprobe)")
    finally:
        client.disconnect()


def main():
    logging.basicConfig(level=logging.ERROR, stream=sys.stdout, format="  pybambu log %(levelname)s: %(message)s")
    path, state_dir, models = sys.argv[1], sys.argv[2], sys.argv[3:]
    found = printers(path)
    steps = Steps("pybambu")
    for model in models:
        if model not in found:
            steps.fail(model, f"no such printer in {path}")
        check(steps, model, found[model], state_dir)
    steps.done()


if __name__ == "__main__":
    main()
