#!/usr/bin/env python3
"""A tiny webhook receiver for the hookledger demo (Python standard library only).

Listens on 127.0.0.1:PORT (argv[1], else env DEMO_RECEIVER_PORT, else 18080), answers 200
{"ok":true} to every POST/PUT/PATCH and prints each request: method, path, headers, the body
pretty-printed and, when DEMO_WEBHOOK_SECRET is set, whether its Standard Webhooks signature
verifies. With DEMO_RECEIVER_LOG set, each request is also appended to that file as one JSON line.

Standard Webhooks: webhook-signature is a space-separated list of "v1,<base64 sig>", where sig is
HMAC-SHA256 over "{webhook-id}.{webhook-timestamp}.{body}" keyed with the base64-decoded part of
the secret after "whsec_" (a secret without that prefix is used as raw UTF-8 bytes).
"""

import base64
import binascii
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE_SECONDS = 5 * 60
_lock = threading.Lock()


def secret_key(secret):
    if secret.startswith("whsec_"):
        return base64.b64decode(secret[len("whsec_"):], validate=True)
    return secret.encode()


def verify(headers, body, secret):
    """Return (valid, detail) for the request's Standard Webhooks signature."""
    msg_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    missing = [name for name, value in (("webhook-id", msg_id), ("webhook-timestamp", timestamp),
                                        ("webhook-signature", signatures)) if not value]
    if missing:
        return False, "missing header(s): " + ", ".join(missing)
    try:
        key = secret_key(secret)
    except (binascii.Error, ValueError):
        return False, "DEMO_WEBHOOK_SECRET is not whsec_<base64>"
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    matched = any(
        version == "v1" and hmac.compare_digest(sig, expected)
        for version, _, sig in (part.partition(",") for part in signatures.split())
    )
    if not matched:
        return False, "no v1 signature matches the secret"
    try:
        age = int(time.time()) - int(timestamp)
    except ValueError:
        return False, "signature matches, but webhook-timestamp is not a number"
    if abs(age) > TOLERANCE_SECONDS:
        return False, f"signature matches, but the timestamp is {age}s old (tolerance {TOLERANCE_SECONDS}s)"
    return True, f"verified (v1, timestamp {age}s old)"


class Handler(BaseHTTPRequestHandler):
    server_version = "hookledger-demo-receiver/1"

    def _read_body(self):
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _answer(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _receive(self):
        body = self._read_body()
        try:
            parsed = json.loads(body) if body else None
            pretty = json.dumps(parsed, indent=2, ensure_ascii=False)
        except ValueError:
            parsed = body.decode("utf-8", "replace")
            pretty = parsed
        secret = os.environ.get("DEMO_WEBHOOK_SECRET")
        signature = None
        if secret:
            valid, detail = verify(self.headers, body, secret)
            signature = {"valid": valid, "detail": detail}

        received_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        lines = [f"--- {received_at} {self.command} {self.path}"]
        lines += [f"    {name}: {value}" for name, value in self.headers.items()]
        lines.append("    body:")
        lines += ["      " + line for line in pretty.splitlines()]
        if signature is None:
            lines.append("    signature: not checked (DEMO_WEBHOOK_SECRET is not set)")
        else:
            lines.append(f"    signature: {'VALID' if signature['valid'] else 'INVALID'}: {signature['detail']}")
        record = {
            "receivedAt": received_at,
            "method": self.command,
            "path": self.path,
            "headers": dict(self.headers.items()),
            "body": parsed,
            "signature": signature,
        }
        with _lock:
            print("\n".join(lines), flush=True)
            log = os.environ.get("DEMO_RECEIVER_LOG")
            if log:
                with open(log, "a", encoding="utf-8") as f:
                    f.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._answer(200, {"ok": True})

    do_POST = do_PUT = do_PATCH = _receive

    def do_GET(self):
        self._answer(200, {"ok": True, "receiver": "hookledger demo"})

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass  # each request is printed by _receive


def main():
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("DEMO_RECEIVER_PORT", "18080"))
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    checking = "checks signatures" if os.environ.get("DEMO_WEBHOOK_SECRET") else "no DEMO_WEBHOOK_SECRET: signatures not checked"
    print(f"demo receiver listening on http://127.0.0.1:{port} ({checking})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
