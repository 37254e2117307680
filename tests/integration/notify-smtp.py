#!/usr/bin/python3
"""A local SMTP server for the notification tests (Debian: python3-aiosmtpd).

With --tls CERT KEY it offers STARTTLS and requires it before MAIL and AUTH;
with --user/--password it requires AUTH. Every message is parsed (MIME, RFC 2047
subject, base64 body; of a multipart message the text/plain part, and the raw
message too) and appended as one JSON line to --log, with the envelope and
whether the session used TLS and which login it gave.
"""
import argparse
import email
import email.policy
import json
import os
import socket
import ssl
import sys
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Handler:
    def __init__(self, log):
        self.log = log
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.content if isinstance(envelope.content, bytes) else envelope.content.encode()
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
        raw_subject = ""
        for line in head.split("\r\n"):
            if line.lower().startswith("subject:"):
                raw_subject = line[8:].strip()
            elif raw_subject and line[:1] in (" ", "\t"):
                raw_subject += "\r\n" + line
            elif raw_subject:
                break
        login = getattr(session, "genkan_login", None)
        record = {
            "t": time.time(),
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": session.ssl is not None,
            "login": login.decode() if isinstance(login, bytes) else login,
            "subject": str(msg["subject"]),
            "raw_subject": raw_subject,
            "from": str(msg["from"]),
            "to": str(msg["to"]),
            "date": str(msg["date"]),
            "message_id": str(msg["message-id"]),
            "idempotency_key": str(msg["genkan-idempotency-key"]),
            "content_type": msg.get_content_type(),
            "charset": msg.get_content_charset(),
            "cte": str(msg["content-transfer-encoding"]),
            # A multipart message (an invitation) logs its text part and, for
            # tests that check the MIME structure themselves, the whole message.
            "body": msg.get_body(("plain",)).get_content() if msg.is_multipart() else msg.get_content(),
            "raw": raw.decode("ascii", "replace") if msg.is_multipart() else None,
            "bare_lf": b"\n" in raw.replace(b"\r\n", b""),
            "header_lines_ok": all(len(l) <= 78 for l in head.split("\r\n")),
        }
        with self.lock:
            with open(self.log, "a", encoding="utf-8") as f:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
        return "250 OK"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--max-seconds", type=float, default=600)
    args = p.parse_args()

    kwargs = {}
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls[0], args.tls[1])
        kwargs.update(tls_context=ctx, require_starttls=True)
    if args.user:
        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login == args.user.encode() and auth_data.password == args.password.encode()
            if ok:
                session.genkan_login = auth_data.login
            return AuthResult(success=ok)
        kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=bool(args.tls))
    port = free_port()
    controller = Controller(Handler(args.log), hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(port))
    os.rename(tmp, args.port_file)
    deadline = time.time() + args.max_seconds
    try:
        while time.time() < deadline:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    controller.stop()


if __name__ == "__main__":
    sys.exit(main())
