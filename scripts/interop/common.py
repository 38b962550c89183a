"""What the interop checks share: reading printers.json, waiting for a condition, a small
sliced-looking 3MF to upload and start, and the one-line-per-step report that the interop
stage counts (`ok …`, `skip … (reason)`, and a closing `N passed, 0 failed, K skipped`)."""

import hashlib
import io
import json
import ssl
import struct
import sys
import time
import zipfile
import zlib


class Steps:
    """Counts and prints the steps of one client's check; `fail` ends the process."""

    def __init__(self, client):
        self.client = client
        self.passed = 0
        self.skipped = 0

    def ok(self, model, what):
        self.passed += 1
        print(f"ok {self.client} {model}: {what}", flush=True)

    def skip(self, model, what, reason):
        self.skipped += 1
        print(f"skip {self.client} {model}: {what} ({reason})", flush=True)

    def fail(self, model, what):
        print(f"FAIL {self.client} {model}: {what}", flush=True)
        sys.exit(1)

    def wait(self, model, what, predicate, seconds=20.0):
        deadline = time.time() + seconds
        while time.time() < deadline:
            try:
                value = predicate()
            except Exception:  # the client raises until it has what we ask for
                value = None
            if value:
                return value
            time.sleep(0.2)
        self.fail(model, f"{what} within {seconds:.0f}s")

    def done(self):
        print(f"{self.client}: {self.passed} passed, 0 failed, {self.skipped} skipped", flush=True)


def printers(path):
    """The printers of printers.json by model token (`P1S`, `X1C`)."""
    return {p["model"]: p for p in json.load(open(path))}


def leaf_sha256(printer, state_dir):
    """SHA-256 of the printer's certificate as it presents it (pinning clients compare it)."""
    pem = open(f"{state_dir}/certs/{printer['serial']}.crt").read()
    # The file holds the chain (leaf, then the simulator CA); the leaf is what is presented.
    end = "-----END CERTIFICATE-----"
    leaf = pem[: pem.index(end) + len(end)]
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(leaf)).hexdigest()


def png_1x1():
    """A valid 1×1 white PNG (slicers put plate thumbnails in the 3MF)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\xff\xff")) + chunk(b"IEND", b""))


def project_3mf(layers=12):
    """A small 3MF laid out as Bambu Studio writes one (model, plate G-code with its header,
    slice info, the plate's object map and thumbnails), enough for the printer and for clients
    that read the project back."""
    gcode = (
        "; HEADER_BLOCK_START\n"
        f"; total layer number: {layers}\n"
        "; HEADER_BLOCK_END\n"
        "G28\n" + "G1 X10 Y10 E1\n" * 200
    )
    slice_info = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<config>\n  <plate>\n'
        '    <metadata key="index" value="1"/>\n'
        '    <filament id="1" type="PLA" color="#FFFFFF" used_m="1.0" used_g="3.0"/>\n'
        "  </plate>\n</config>\n"
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="model" ContentType="application/vnd.ms-package.3dmanufacturing-3dmodel+xml"/></Types>',
        )
        z.writestr(
            "3D/3dmodel.model",
            '<?xml version="1.0" encoding="UTF-8"?><model unit="millimeter" xmlns="http://schemas.microsoft.com/3dmanufacturing/core/2015/02"><resources/><build/></model>',
        )
        z.writestr("Metadata/plate_1.gcode", gcode)
        z.writestr("Metadata/plate_1.gcode.md5", hashlib.md5(gcode.encode()).hexdigest().upper())
        z.writestr("Metadata/slice_info.config", slice_info)
        z.writestr("Metadata/plate_1.json", json.dumps(
            {"bbox_objects": [], "filament_ids": [0], "filament_colors": ["#FFFFFF"], "version": 2}))
        z.writestr("Metadata/plate_1.png", png_1x1())
        z.writestr("Metadata/top_1.png", png_1x1())
    return buf.getvalue()
