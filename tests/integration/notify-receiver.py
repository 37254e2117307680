#!/usr/bin/python3
"""A webhook receiver for the notification tests and benchmark, on loopback.

Every POST is appended as one JSON line to --log: the time it arrived, the
path, the Genkan-Idempotency-Key, whether the Genkan-Signature verifies with
--secret, whether the key was seen before (the receiver honours idempotency
keys across restarts: it reloads the keys from its log), and the body. The
test counts raw deliveries per key from these lines.

--status CODE answers every POST with CODE (fault injection); --lose-first
records the first delivery of each key and then drops the connection without
an answer, as a receiver whose answer was lost would.
"""
import argparse
import hashlib
import hmac
import http.server
import json
import os
import ssl
import sys
import threading
import time

TOLERANCE_S = 300


def verify(secret, header, body):
    """True when the Genkan-Signature header is valid for body (docs/webhooks.md)."""
    if not secret or not header:
        return None
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        ts = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - ts) > TOLERANCE_S:
        return False
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac, parts.get("v1", ""))


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.seen = set()
        self.lost = set()
        if os.path.exists(args.log):
            with open(args.log, encoding="utf-8") as f:
                for line in f:
                    try:
                        self.seen.add(json.loads(line)["key"])
                    except (ValueError, KeyError):
                        pass
        self.out = open(args.log, "a", encoding="utf-8")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without this, Nagle and the
    # client's delayed ACK add 40 ms to every answer.
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        state = self.server.state
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        key = self.headers.get("Genkan-Idempotency-Key")
        with state.lock:
            duplicate = key in state.seen
            state.seen.add(key)
            lose = state.args.lose_first and key not in state.lost
            if lose:
                state.lost.add(key)
            record = {
                "t": time.time(),
                "path": self.path,
                "key": key,
                "event": self.headers.get("Genkan-Event"),
                "content_type": self.headers.get("Content-Type"),
                "signature": self.headers.get("Genkan-Signature"),
                "sig_ok": verify(state.args.secret, self.headers.get("Genkan-Signature"), body),
                "duplicate": duplicate,
                "answered": not lose,
                "body": body.decode("utf-8", "replace"),
            }
            state.out.write(json.dumps(record, ensure_ascii=False) + "\n")
            state.out.flush()
        if lose:
            self.close_connection = True
            return
        answer = json.dumps({"ok": True, "duplicate": duplicate}).encode()
        self.send_response(state.args.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--log", required=True)
    p.add_argument("--secret")
    p.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--status", type=int, default=200)
    p.add_argument("--lose-first", action="store_true")
    p.add_argument("--max-seconds", type=float, default=600, help="exit by itself after this long")
    args = p.parse_args()

    server = Server(("127.0.0.1", args.port), Handler)
    server.state = State(args)
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls[0], args.tls[1])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(server.server_address[1]))
        os.rename(tmp, args.port_file)
    threading.Timer(args.max_seconds, lambda: os._exit(0)).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
