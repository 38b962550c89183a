#!/usr/bin/env python3
"""SMTP sink test peer for printwarden's mail client (aiosmtpd + cryptography).

Started by scripts/test.sh (peer_smtp_start). On start it makes a throwaway test CA and a
leaf for 127.0.0.1/localhost in the state dir (writes <state>/ca.pem for the tests), then
serves on 127.0.0.1 only, on three ports:

  --starttls-port  plain, STARTTLS offered; AUTH (PLAIN, LOGIN) only after STARTTLS
  --tls-port       implicit TLS (SMTPS); AUTH offered
  --plain-port     plain, no STARTTLS, no AUTH (the client must refuse it unless allowed)

AUTH accepts exactly --user/--password (wrong credentials get 535) and is optional: mail
without AUTH is accepted too. Every accepted message is parsed with the `email` package
(policy=default) and written atomically as <state>/mail/<n>.json:

  {mail_from, rcpt_tos, tls, auth, subject, from, to, text, html, headers}

`tls` is read from the connection itself (not from the port's configuration), `auth` is the
authenticated user or null, text/html are the decoded text/plain and text/html parts with
CRLF turned back into LF (null when absent), and `headers` maps each top-level header name to its first value.

It stops on SIGTERM/SIGINT, and by itself when the process it watches (--parent-pid, default
its parent) goes away, so a killed test run never leaves it listening.
"""

from __future__ import annotations

import argparse
import datetime
import email
import hmac
import ipaddress
import itertools
import json
import logging
import os
import signal
import ssl
import sys
import tempfile
import threading
import time
from email import policy

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

BIND = "127.0.0.1"


def write_atomic(path: str, data: bytes, mode: int = 0o644) -> None:
    """Writes via a temporary file in the same directory and a rename, so a reader never
    sees a half-written file."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def make_pki(state: str) -> tuple[str, str]:
    """A fresh CA (EC P-256, 1 day) and a leaf for localhost / 127.0.0.1 signed by it.
    Writes ca.pem, server.pem (leaf + CA) and server.key (0600); returns (cert, key) paths."""
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "printwarden SMTP sink test CA"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "printwarden tests"),
        ]
    )
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    pem = serialization.Encoding.PEM
    ca_pem = ca.public_bytes(pem)
    cert_path, key_path = os.path.join(state, "server.pem"), os.path.join(state, "server.key")
    write_atomic(
        key_path,
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        0o600,
    )
    write_atomic(cert_path, leaf.public_bytes(pem) + ca_pem)
    # Written last: test.sh and the tests take its presence as "the PKI is complete".
    write_atomic(os.path.join(state, "ca.pem"), ca_pem)
    return cert_path, key_path


class Store:
    """Numbers and writes the captured messages; shared by the three listeners, which run in
    their own threads."""

    def __init__(self, directory: str) -> None:
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        taken = [int(f[:-5]) for f in os.listdir(directory) if f.endswith(".json") and f[:-5].isdigit()]
        self._next = itertools.count(max(taken, default=0) + 1)
        self._lock = threading.Lock()

    def save(self, record: dict) -> int:
        with self._lock:
            n = next(self._next)
        write_atomic(os.path.join(self.dir, f"{n}.json"), json.dumps(record, ensure_ascii=False).encode())
        return n


def part_text(msg: email.message.EmailMessage, subtype: str) -> str | None:
    part = msg.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_type() != f"text/{subtype}":
        return None
    # SMTP puts CRLF on the wire; LF is what the sender wrote.
    return part.get_content().replace("\r\n", "\n")


def header_text(msg: email.message.EmailMessage, name: str) -> str | None:
    value = msg.get(name)
    return None if value is None else str(value)


class Sink:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        msg = email.message_from_bytes(raw, policy=policy.default)
        headers: dict[str, str] = {}
        for name, value in msg.items():
            headers.setdefault(name, str(value))
        transport = server.transport
        tls = (transport is not None and transport.get_extra_info("ssl_object") is not None) or session.ssl is not None
        auth = None
        if session.authenticated and isinstance(session.auth_data, LoginPassword):
            auth = session.auth_data.login.decode("utf-8", "replace")
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "tls": bool(tls),
            "auth": auth,
            "subject": header_text(msg, "subject"),
            "from": header_text(msg, "from"),
            "to": header_text(msg, "to"),
            "text": part_text(msg, "plain"),
            "html": part_text(msg, "html"),
            "headers": headers,
        }
        n = self.store.save(record)
        print(f"stored {n}.json: tls={record['tls']} auth={auth} rcpt={record['rcpt_tos']}", flush=True)
        return f"250 2.0.0 OK: stored as {n}.json"


def authenticator_for(user: bytes, password: bytes):
    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and hmac.compare_digest(auth_data.login, user)
            and hmac.compare_digest(auth_data.password, password)
        )
        # auth_data must be handed back, or session.auth_data stays empty.
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    return authenticator


def proc_start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat (start time), to tell a recycled pid from the original."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return started is None or proc_start_time(pid) == started


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--starttls-port", type=int, required=True)
    ap.add_argument("--tls-port", type=int, required=True)
    ap.add_argument("--plain-port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--parent-pid", type=int, default=os.getppid(), help="stop when this process exits (default: the parent)")
    args = ap.parse_args()

    # aiosmtpd logs every line it reads at debug level, AUTH included: keep it quiet.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # Its AuthResult path warns about its own deprecated Session.login_data on every AUTH.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    t0 = time.monotonic()
    state = os.path.abspath(args.state_dir)
    os.makedirs(state, exist_ok=True)
    cert, key = make_pki(state)
    tls_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    tls_ctx.load_cert_chain(cert, key)

    store = Store(os.path.join(state, "mail"))
    common = dict(
        hostname=BIND,
        server_hostname="smtp-sink.test",
        authenticator=authenticator_for(args.user.encode(), args.password.encode()),
        auth_required=False,
    )
    controllers = [
        # STARTTLS offered, not required; AUTH only once TLS is up.
        Controller(Sink(store), port=args.starttls_port, tls_context=tls_ctx, require_starttls=False, auth_require_tls=True, **common),
        # aiosmtpd counts only STARTTLS as TLS: with auth_require_tls it would never offer AUTH here.
        Controller(Sink(store), port=args.tls_port, ssl_context=tls_ctx, auth_require_tls=False, **common),
        # No tls_context: STARTTLS never offered; auth_require_tls keeps AUTH off in plaintext.
        Controller(Sink(store), port=args.plain_port, auth_require_tls=True, **common),
    ]

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())

    started = []
    try:
        for c in controllers:
            c.start()
            started.append(c)
        print(
            f"smtp sink up in {time.monotonic() - t0:.2f}s on {BIND}: starttls={args.starttls_port} "
            f"tls={args.tls_port} plain={args.plain_port}, state {state}, watching pid {args.parent_pid}",
            flush=True,
        )
        parent_started = proc_start_time(args.parent_pid)
        while not stop.wait(0.5):
            if not alive(args.parent_pid, parent_started):
                print(f"pid {args.parent_pid} is gone: stopping", flush=True)
                break
    finally:
        for c in reversed(started):
            try:
                c.stop()
            except Exception as e:  # noqa: BLE001 (best effort on the way out)
                print(f"stopping a listener failed: {e}", file=sys.stderr, flush=True)
    print("smtp sink stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
