#!/usr/bin/env python3
"""Regenerates crates/credentials/tests/data/password_vectors.json with implementations that
are independent of ours: passlib (pbkdf2_sha256, as Bambuddy stores it), hashlib.scrypt (the
3DPrintForge `scrypt:<salt hex>:<key hex>` format, N=16384 r=8 p=1, 64-byte key, the hex salt
string used as the salt), the `bcrypt` package and argon2-cffi (argon2id).

    pip install passlib bcrypt argon2-cffi && python3 scripts/vectors/passwords.py
"""
import hashlib
import json
import os
import pathlib

import argon2
import bcrypt
from passlib.hash import pbkdf2_sha256

PASSWORDS = ["correct horse battery staple", "pässwörd-ünïcode-✓", "x" * 72 + "tail"]
vectors = []
for pw in PASSWORDS:
    vectors.append({"kind": "pbkdf2-sha256", "password": pw, "hash": pbkdf2_sha256.using(rounds=29000).hash(pw)})
    salt = os.urandom(16).hex()
    dk = hashlib.scrypt(pw.encode(), salt=salt.encode(), n=16384, r=8, p=1, dklen=64, maxmem=64 * 1024 * 1024)
    vectors.append({"kind": "scrypt", "password": pw, "hash": f"scrypt:{salt}:{dk.hex()}"})
    if len(pw.encode()) <= 72:
        vectors.append({"kind": "bcrypt", "password": pw, "hash": bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=4)).decode()})
    hasher = argon2.PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
    vectors.append({"kind": "argon2id", "password": pw, "hash": hasher.hash(pw)})
out = pathlib.Path(__file__).resolve().parents[2] / "crates/credentials/tests/data/password_vectors.json"
out.write_text(json.dumps({"generated_by": "scripts/vectors/passwords.py", "vectors": vectors}, indent=1, ensure_ascii=False) + "\n")
print(f"wrote {len(vectors)} vectors to {out}")
