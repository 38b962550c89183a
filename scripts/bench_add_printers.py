#!/usr/bin/env python3
"""Adds every printer of a simulator's printers.json to a printwarden server (used by
scripts/bench.sh printers). Arguments: BASE_URL CA_FILE PRINTERS_JSON; the session cookie
pair comes in the environment as PW_COOKIE."""

import json
import os
import ssl
import sys
import urllib.request

base, ca, printers_file = sys.argv[1], sys.argv[2], sys.argv[3]
context = ssl.create_default_context(cafile=ca)
context.check_hostname = False
cookie = os.environ["PW_COOKIE"]
for p in json.load(open(printers_file)):
    body = json.dumps({
        "name": p["serial"], "serial": p["serial"], "host": p["host"],
        "mqtt_port": p["mqtt_port"], "ftps_port": p["ftps_port"],
        "camera_port": p["camera_port"], "access_code": p["access_code"], "model": p["model"],
    }).encode()
    request = urllib.request.Request(
        f"{base}/api/v1/printers", data=body, method="POST",
        headers={"content-type": "application/json", "cookie": cookie, "origin": base},
    )
    with urllib.request.urlopen(request, context=context) as response:
        if response.status != 201:
            sys.exit(f"adding {p['serial']}: HTTP {response.status}")
