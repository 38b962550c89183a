#!/usr/bin/env python3
"""Cross-checks the printer simulator with an independent client: the PyPI package
`bambu-printer-manager` (module `bpm`: paho-mqtt, its own implicit-FTPS client on the fixed
port 990, the model read from the serial prefix) drives each printer of printers.json that
the simulator started with --standard-ports: status, AMS, upload, start (the URL form bpm
sends for the model: `file:///sdcard/<path>` on P1/A1, `ftp:///<path>` on X1/H2/P2),
pause/resume/stop and the light. bpm has no camera client: that step is skipped, saying so.

Usage: bpm_check.py PRINTERS_JSON STATE_DIR MODEL...   (one line per step; exit 1 on a failure)"""

import logging
import os
import pathlib
import sys
import tempfile

from bpm.bambuconfig import BambuConfig
from bpm.bambuprinter import BambuPrinter
from bpm.bambutools import PlateType, PrinterModel, ServiceState

from common import Steps, printers, project_3mf

EXPECTED_MODEL = {"P1S": PrinterModel.P1S, "X1C": PrinterModel.X1C}
EXPECTED_URL = {"P1S": "file:///sdcard{}", "X1C": "ftp://{}"}


def check(steps, model, p, work):
    if (p["mqtt_port"], p["ftps_port"]) != (8883, 990):
        steps.fail(model, "bpm needs the real ports (the simulator was not started with --standard-ports)")
    config = BambuConfig(
        hostname=p["host"],
        access_code=p["access_code"],
        serial_number=p["serial"],
        bpm_cache_path=pathlib.Path(work),
    )
    if config.printer_model != EXPECTED_MODEL[model]:
        steps.fail(model, f"bpm read the serial {p['serial']} as {config.printer_model}")
    steps.ok(model, f"serial prefix {p['serial'][:3]} read as {config.printer_model.name}")

    printer = BambuPrinter(config=config)
    printer.start_session()
    try:
        steps.wait(model, "an MQTT session", lambda: printer.service_state == ServiceState.CONNECTED)
        # bpm's state starts at IDLE with a 0 °C bed: a bed temperature is what a report brought.
        steps.wait(model, "a status report", lambda: printer.printer_state.climate.bed_temp > 0)
        state = printer.printer_state
        steps.ok(model, f"status: gcode_state={state.gcode_state}, bed {state.climate.bed_temp} °C")

        units = steps.wait(model, "AMS units", lambda: printer.printer_state.ams_units)
        spools = steps.wait(model, "AMS spools", lambda: [s for s in printer.printer_state.spools if s.id < 254])
        if not any(s.type for s in spools):
            steps.fail(model, f"no spool has a filament type: {spools}")
        steps.ok(model, f"AMS: {len(units)} unit(s), {len(spools)} spool(s), first {spools[0].type} {spools[0].color}")

        name = f"interop-bpm-{model.lower()}.gcode.3mf"
        local = os.path.join(work, name)
        with open(local, "wb") as f:
            f.write(project_3mf())
        # After STOR bpm lists the card (LIST, parsed with its own pattern) to find the file
        # and reads the project's plates; it raises when the listing does not show the file.
        try:
            printer.upload_sdcard_file(local, f"/{name}")
        except Exception as e:
            steps.fail(model, f"upload: {e}")
        if not printer.sdcard_file_exists(f"/{name}"):
            steps.fail(model, f"the upload is not on the card: {printer.cached_sd_card_contents}")
        steps.ok(model, f"FTPS upload on port 990 and listing ({os.path.getsize(local)} bytes)")

        printer.print_3mf_file(f"/{name}", 1, PlateType.AUTO, use_ams=False, ams_mapping="")
        url = EXPECTED_URL[model].format("/" + name)
        steps.wait(model, "RUNNING after project_file", lambda: printer.printer_state.gcode_state == "RUNNING")
        sent = printer.active_job_info.project_file_command.get("print", {}).get("url")
        if sent != url:
            steps.fail(model, f"the printer's project_file reply echoed url {sent!r}, bpm sent {url!r}")
        # On the reply bpm reads the project back: from its cache when the card's listing (size
        # and MDTM time) matches what it uploaded, else by downloading it over FTPS.
        info = steps.wait(model, "the started project read back", lambda: printer.active_job_info.project_info)
        filaments = info.metadata.get("filament", [])
        steps.ok(model, f"start with url {url} (RUNNING, the reply echoes the url; project read back: "
                        f"plate {printer.active_job_info.plate_num}, {len(filaments)} filament)")

        printer.pause_printing()
        steps.wait(model, "PAUSE", lambda: printer.printer_state.gcode_state == "PAUSE")
        printer.resume_printing()
        steps.wait(model, "RUNNING after resume", lambda: printer.printer_state.gcode_state == "RUNNING")
        steps.ok(model, "pause and resume")
        printer.stop_printing()
        steps.wait(model, "FAILED after stop", lambda: printer.printer_state.gcode_state == "FAILED")
        steps.ok(model, "stop (FAILED, as firmware reports a cancelled job)")

        # bpm switches every light it knows (chamber_light, chamber_light2, column_light); the
        # printer refuses the nodes it does not have and reports its own in lights_report.
        printer.light_state = True
        steps.wait(model, "the light on", lambda: printer.light_state)
        printer.light_state = False
        steps.wait(model, "the light off", lambda: not printer.light_state)
        steps.ok(model, "light on and off (lights_report)")

        steps.skip(model, "camera", "bpm has no camera client")
    finally:
        printer.quit()


def main():
    # bpm logs what it could not parse or fetch (a project it could not read back over FTPS,
    # a reply it did not expect) instead of raising: show those lines in the stage log.
    logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="  bpm log %(levelname)s: %(message)s")
    path, state_dir, models = sys.argv[1], sys.argv[2], sys.argv[3:]
    found = printers(path)
    steps = Steps("bpm")
    with tempfile.TemporaryDirectory() as work:
        for model in models:
            if model not in found:
                steps.fail(model, f"no such printer in {path}")
            check(steps, model, found[model], work)
    steps.done()


if __name__ == "__main__":
    main()
