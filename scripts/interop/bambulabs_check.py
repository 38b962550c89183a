#!/usr/bin/env python3
"""Cross-checks the printer simulator with an independent client: the PyPI package
`bambulabs-api` (paho-mqtt, ftplib, its own camera client) reads status, pauses and resumes
a print, uploads over implicit FTPS and reads camera frames from the first printer in
printers.json. Prints one line per check; exits non-zero on the first failure."""

import io
import json
import sys
import time

from bambulabs_api import PrinterFTPClient, PrinterMQTTClient
from bambulabs_api.camera_client import PrinterCamera


def wait(what, predicate, seconds=20.0):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    sys.exit(f"FAIL: {what} within {seconds}s")


def main():
    printers = json.load(open(sys.argv[1]))
    p = printers[0]
    host, code, serial = p["host"], p["access_code"], p["serial"]

    ftp = PrinterFTPClient(host, code, port=p["ftps_port"])
    payload = b"interop" * 30_000
    reply = ftp.upload_file(io.BytesIO(payload), "interop.gcode.3mf")
    if not str(reply).startswith("226"):
        sys.exit(f"FAIL: FTPS upload answered {reply!r}")
    _, names = ftp.list_directory()
    if not any("interop.gcode.3mf" in n for n in names):
        sys.exit(f"FAIL: the upload is not listed: {names}")
    print(f"ok ftps: uploaded {len(payload)} bytes and listed it (TLS session reused)")

    mqtt = PrinterMQTTClient(host, code, serial, port=p["mqtt_port"])
    mqtt.connect()
    mqtt.start()
    state = wait("an MQTT status report", lambda: mqtt.ready() and mqtt.get_printer_state())
    print(f"ok mqtt: connected and read gcode_state={state.name}")
    if not mqtt.start_print_3mf("interop.gcode.3mf", 1, use_ams=False):
        sys.exit("FAIL: project_file was not published")
    wait("RUNNING", lambda: mqtt.get_printer_state().name == "RUNNING")
    print("ok mqtt: project_file started the job (RUNNING)")
    mqtt.pause_print()
    wait("PAUSE", lambda: mqtt.get_printer_state().name == "PAUSE")
    mqtt.resume_print()
    wait("RUNNING after resume", lambda: mqtt.get_printer_state().name == "RUNNING")
    print("ok mqtt: pause and resume")
    mqtt.stop()

    camera = PrinterCamera(host, code, port=p["camera_port"])
    camera.start()
    def frame_or_none():
        try:
            return camera.get_frame()
        except Exception:  # the library raises until its first frame arrives
            return None

    frame = wait("a camera frame", frame_or_none, seconds=15)
    camera.stop()
    print(f"ok camera: received a frame ({len(frame)} base64 characters)")


if __name__ == "__main__":
    main()
