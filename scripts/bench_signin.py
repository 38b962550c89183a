#!/usr/bin/env python3
"""Sign-in latency of each method against a running printwarden (scripts/bench.sh signin).

Drives what a browser does, over one kept-alive TLS connection to printwarden (as a browser
keeps one), and prints one line per method with the number of sign-ins and their p50, p99
and maximum in milliseconds:

  password   POST /api/v1/auth/login (a local account; the password hash dominates)
  totp       the password step, then the code step (one code per 30 s period: codes are
             single-use, so this method has few samples)
  ldap       POST /api/v1/auth/login for a directory account (bind as the service account,
             search, bind as the user, read groups: OpenLDAP from scripts/peers/slapd.sh)
  oidc       authorize redirect → the provider's login form → callback (oidc-provider from
             scripts/peers/oidc-server.mjs); `oidc` is the whole round trip, provider
             included, `oidc-pw` the two printwarden requests only
  passkey    options → assertion (a software Ed25519 authenticator here) → session

Needs: the server's base URL (its public URL, https://localhost:PORT, the passkeys' origin),
its CA, the setup code, and the PW_TEST_LDAP_* / PW_TEST_OIDC_* variables the peers export.
Rate limits must be off on the server. Python's standard library plus `cryptography` (for
the Ed25519 authenticator). Benchmark only: never run in CI.
"""

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import math
import os
import ssl
import struct
import sys
import time
import urllib.parse

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

PASSWORD = "bench sign-in password 1"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Conn:
    """One kept-alive HTTPS connection to a host, with a cookie jar of name=value pairs."""

    def __init__(self, base, ca):
        self.base = base
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port or 443
        self.ctx = ssl.create_default_context(cafile=ca)
        self.conn = None

    def request(self, method, path, body=None, cookies=None, form=False, origin=True):
        headers = {}
        data = None
        if body is not None:
            if form:
                data = urllib.parse.urlencode(body).encode()
                headers["content-type"] = "application/x-www-form-urlencoded"
            else:
                data = json.dumps(body).encode()
                headers["content-type"] = "application/json"
        if cookies:
            headers["cookie"] = "; ".join(cookies)
        if origin:
            headers["origin"] = self.base
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
                raw = r.read()
                break
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        set_cookies = [v.split(";", 1)[0] for k, v in r.getheaders() if k.lower() == "set-cookie"]
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return r.status, parsed, set_cookies, dict((k.lower(), v) for k, v in r.getheaders())


def cookie(cookies, part):
    for c in cookies:
        if part in c.split("=", 1)[0]:
            return c
    raise SystemExit(f"no {part} cookie in {cookies}")


def must(status, want, what, body):
    if status != want:
        raise SystemExit(f"{what}: HTTP {status} (want {want}): {body}")


def totp(secret_b32, at):
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(at) // 30), hashlib.sha1).digest()
    o = digest[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", digest[o:o + 4])[0] & 0x7FFFFFFF) % 1_000_000)


def cbor_head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    if n < 0x100:
        return bytes([major << 5 | 24, n])
    if n < 0x10000:
        return bytes([major << 5 | 25]) + struct.pack(">H", n)
    return bytes([major << 5 | 26]) + struct.pack(">I", n)


def cbor(v):
    if isinstance(v, bool):
        raise TypeError("no booleans here")
    if isinstance(v, int):
        return cbor_head(0, v) if v >= 0 else cbor_head(1, -1 - v)
    if isinstance(v, bytes):
        return cbor_head(2, len(v)) + v
    if isinstance(v, str):
        return cbor_head(3, len(v.encode())) + v.encode()
    if isinstance(v, list):
        return cbor_head(5, len(v)) + b"".join(cbor(k) + cbor(x) for k, x in v)
    raise TypeError(type(v))


class Authenticator:
    """A software Ed25519 passkey (discoverable, user verified), as the browser's would be."""

    def __init__(self):
        self.key = Ed25519PrivateKey.generate()
        self.cred_id = os.urandom(16)
        self.counter = 0
        self.user_handle = b""

    def client_data(self, kind, challenge, origin):
        return json.dumps({"type": kind, "challenge": b64url(challenge), "origin": origin,
                           "crossOrigin": False}, separators=(",", ":")).encode()

    def create(self, rp_id, origin, challenge, user_handle):
        self.user_handle = user_handle
        public = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        cose = cbor([(1, 1), (3, -8), (-1, 6), (-2, public)])
        auth = (hashlib.sha256(rp_id.encode()).digest() + bytes([0x01 | 0x04 | 0x08 | 0x40])
                + struct.pack(">I", self.counter) + bytes(16)
                + struct.pack(">H", len(self.cred_id)) + self.cred_id + cose)
        att = cbor([("fmt", "none"), ("attStmt", []), ("authData", auth)])
        return {"id": b64url(self.cred_id), "response": {
            "clientDataJSON": b64url(self.client_data("webauthn.create", challenge, origin)),
            "attestationObject": b64url(att)}}

    def get(self, rp_id, origin, challenge):
        self.counter += 1
        cd = self.client_data("webauthn.get", challenge, origin)
        auth = (hashlib.sha256(rp_id.encode()).digest() + bytes([0x01 | 0x04 | 0x08])
                + struct.pack(">I", self.counter))
        sig = self.key.sign(auth + hashlib.sha256(cd).digest())
        return {"id": b64url(self.cred_id), "response": {
            "clientDataJSON": b64url(cd), "authenticatorData": b64url(auth),
            "signature": b64url(sig), "userHandle": b64url(self.user_handle)}}


def percentile(sorted_ms, p):
    if not sorted_ms:
        return float("nan")
    # Nearest rank: the smallest sample with at least p % of the samples at or below it.
    i = min(len(sorted_ms) - 1, max(0, math.ceil(p / 100 * len(sorted_ms)) - 1))
    return sorted_ms[i]


def report(name, samples):
    s = sorted(samples)
    print(f"signin {name} n={len(s)} p50={percentile(s, 50):.1f} p99={percentile(s, 99):.1f} "
          f"max={s[-1]:.1f}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--setup-code", required=True)
    ap.add_argument("-n", type=int, default=20)
    ap.add_argument("--totp-samples", type=int, default=3)
    a = ap.parse_args()
    pw = Conn(a.base, a.ca)
    env = os.environ

    st, body, ck, _ = pw.request("POST", "/api/v1/auth/setup", {
        "setup_code": a.setup_code, "username": "bench", "password": PASSWORD})
    must(st, 201, "setup", body)
    admin = [cookie(ck, "pw_session")]
    st, groups, _, _ = pw.request("GET", "/api/v1/groups", cookies=admin)
    must(st, 200, "groups", groups)
    items = groups["items"] if isinstance(groups, dict) else groups
    viewers = next(g["id"] for g in items if g["name"] == "Viewers")
    for name in ("bench-password", "bench-totp", "bench-passkey"):
        st, body, _, _ = pw.request("POST", "/api/v1/users", {
            "username": name, "password": PASSWORD, "group_ids": [viewers]}, cookies=admin)
        must(st, 201, f"create {name}", body)
    ldap_host = env["PW_TEST_LDAP_HOST"]
    oidc_issuer = env["PW_TEST_OIDC_ISSUER"]
    oidc_host = urllib.parse.urlsplit(oidc_issuer).hostname
    st, body, _, _ = pw.request("PUT", "/api/v1/settings/outbound",
                                {"allowed_hosts": [ldap_host, oidc_host]}, cookies=admin)
    must(st, 200, "outbound allow-list", body)

    def login(user, password):
        t0 = time.perf_counter()
        st, body, ck, _ = pw.request("POST", "/api/v1/auth/login",
                                     {"username": user, "password": password}, origin=False)
        return (time.perf_counter() - t0) * 1000, st, body, ck

    # Password.
    samples = []
    for _ in range(a.n):
        ms, st, body, ck = login("bench-password", PASSWORD)
        must(st, 200, "password sign-in", body)
        cookie(ck, "pw_session")
        samples.append(ms)
    report("password", samples)

    # Password + TOTP.
    _, st, body, ck = login("bench-totp", PASSWORD)
    must(st, 200, "totp user sign-in", body)
    user = [cookie(ck, "pw_session")]
    st, setup, _, _ = pw.request("POST", "/api/v1/auth/mfa/totp/setup", {}, cookies=user)
    must(st, 200, "totp setup", setup)
    secret = setup["secret"]
    st, body, _, _ = pw.request("POST", "/api/v1/auth/mfa/totp/enable",
                                {"code": totp(secret, time.time())}, cookies=user)
    must(st, 200, "totp enable", body)
    samples = []
    for _ in range(a.totp_samples):
        # A code is used once: wait for the next period's.
        time.sleep(30.5 - time.time() % 30)
        t0 = time.perf_counter()
        st, body, ck, _ = pw.request("POST", "/api/v1/auth/login",
                                     {"username": "bench-totp", "password": PASSWORD}, origin=False)
        must(st, 200, "totp password step", body)
        if not body.get("mfa_required"):
            raise SystemExit(f"no second step asked: {body}")
        st, body, ck, _ = pw.request("POST", "/api/v1/auth/mfa/verify",
                                     {"method": "totp", "code": totp(secret, time.time())},
                                     cookies=[cookie(ck, "pw_mfa")])
        must(st, 200, "totp code step", body)
        cookie(ck, "pw_session")
        samples.append((time.perf_counter() - t0) * 1000)
    report("totp", samples)

    # LDAP.
    base = env["PW_TEST_LDAP_BASE"]
    with open(env["PW_TEST_LDAP_CA"]) as f:
        ldap_ca = f.read()
    st, body, _, _ = pw.request("PUT", "/api/v1/settings/ldap", {
        "url": f"ldaps://{ldap_host}:{env['PW_TEST_LDAPS_PORT']}", "ca_cert_pem": ldap_ca,
        "bind_dn": env["PW_TEST_LDAP_BIND_DN"], "bind_password": env["PW_TEST_LDAP_BIND_PASSWORD"],
        "user_base": f"ou=people,{base}",
        "user_filter": "(&(objectClass=inetOrgPerson)(uid={username}))",
        "email_attr": "mail", "name_attr": "displayName", "group_base": f"ou=groups,{base}",
        "group_mappings": [{"directory_group": f"cn=farm-operators,ou=groups,{base}",
                            "group_id": viewers}],
        "enabled": True}, cookies=admin)
    must(st, 200, "LDAP settings", body)
    samples = []
    for _ in range(a.n):
        ms, st, body, ck = login("bob", "bobpw")
        must(st, 200, "LDAP sign-in", body)
        cookie(ck, "pw_session")
        samples.append(ms)
    report("ldap", samples)

    # OpenID Connect.
    with open(env["PW_TEST_OIDC_CA"]) as f:
        oidc_ca = f.read()
    st, body, _, _ = pw.request("POST", "/api/v1/settings/oidc/providers", {
        "name": "Bench IdP", "issuer": oidc_issuer + "/", "client_id": "farm",
        "client_secret": "farm-secret", "ca_cert_pem": oidc_ca,
        "scopes": "openid email profile", "auto_create": True}, cookies=admin)
    must(st, 201, "OIDC provider", body)
    provider = body["id"]
    idp = Conn(oidc_issuer, env["PW_TEST_OIDC_CA"])
    total, ours = [], []
    for _ in range(a.n):
        t0 = time.perf_counter()
        st, body, ck, h = pw.request("GET", f"/api/v1/auth/oidc/{provider}/authorize", origin=False)
        t1 = time.perf_counter()
        must(st, 302, "OIDC authorize", body)
        binding = cookie(ck, "pw_oidc")
        url, jar, posted = h["location"], {}, False
        for _ in range(10):
            if not url.startswith(oidc_issuer):
                break
            u = urllib.parse.urlsplit(url)
            path = u.path + ("?" + u.query if u.query else "")
            st, _, ck, h = idp.request("GET", path, cookies=list(jar.values()), origin=False)
            jar.update((c.split("=", 1)[0], c) for c in ck)
            if 300 <= st < 400:
                url = urllib.parse.urljoin(url, h["location"])
                continue
            if st != 200 or posted:
                raise SystemExit(f"the provider answered {st} at {url}")
            st, _, ck, h = idp.request("POST", path, {"prompt": "login", "login": "alice",
                                                      "password": "any"},
                                       cookies=list(jar.values()), form=True, origin=False)
            jar.update((c.split("=", 1)[0], c) for c in ck)
            posted = True
            url = urllib.parse.urljoin(url, h["location"])
        u = urllib.parse.urlsplit(url)
        t2 = time.perf_counter()
        st, body, ck, _ = pw.request("GET", u.path + "?" + u.query, cookies=[binding], origin=False)
        t3 = time.perf_counter()
        if st not in (302, 303) or not any("pw_session" in c for c in ck):
            raise SystemExit(f"OIDC callback: HTTP {st} {body}")
        total.append((t3 - t0) * 1000)
        ours.append(((t1 - t0) + (t3 - t2)) * 1000)
    report("oidc", total)
    report("oidc-pw", ours)

    # Passkey alone.
    _, st, body, ck = login("bench-passkey", PASSWORD)
    must(st, 200, "passkey user sign-in", body)
    user = [cookie(ck, "pw_session")]
    origin = a.base
    rp_id = urllib.parse.urlsplit(a.base).hostname
    key = Authenticator()
    st, body, ck, _ = pw.request("POST", "/api/v1/auth/passkeys/register/options",
                                 {"password": PASSWORD}, cookies=user)
    must(st, 200, "passkey register options", body)
    opts = body["publicKey"]
    made = key.create(rp_id, origin, unb64url(opts["challenge"]), unb64url(opts["user"]["id"]))
    st, body, _, _ = pw.request("POST", "/api/v1/auth/passkeys/register",
                                {"name": "Bench key", "credential": made},
                                cookies=user + [cookie(ck, "pw_passkey")])
    must(st, 201, "passkey register", body)
    samples = []
    for _ in range(a.n):
        t0 = time.perf_counter()
        st, body, ck, _ = pw.request("POST", "/api/v1/auth/passkeys/login/options", origin=True)
        must(st, 200, "passkey login options", body)
        signed = key.get(rp_id, origin, unb64url(body["publicKey"]["challenge"]))
        st, body, ck, _ = pw.request("POST", "/api/v1/auth/passkeys/login", signed,
                                     cookies=[cookie(ck, "pw_passkey")])
        must(st, 200, "passkey sign-in", body)
        cookie(ck, "pw_session")
        samples.append((time.perf_counter() - t0) * 1000)
    report("passkey", samples)


if __name__ == "__main__":
    sys.exit(main())
