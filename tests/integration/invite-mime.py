#!/usr/bin/python3
"""Reads an invitation e-mail the way a mail client would (Python's email
package, RFC 5322/2045-2047/2387) for test-notify-invite.c: prints one JSON
object with the MIME tree, every parser defect, the decoded subject, text and
HTML bodies and the inline image's Content-ID, and writes the image to PNG_OUT.

Usage: invite-mime.py MESSAGE PNG_OUT
"""
import email
import email.policy
import json
import sys


def shape(part):
    """multipart/related(multipart/alternative(text/plain,text/html),image/png)"""
    kind = part.get_content_type()
    if part.is_multipart():
        return kind + "(" + ",".join(shape(p) for p in part.iter_parts()) + ")"
    return kind


def main():
    raw = open(sys.argv[1], "rb").read()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    defects = []
    for part in msg.walk():
        defects += ["%s: %s" % (part.get_content_type(), type(d).__name__) for d in part.defects]
    plain = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    images = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    out = {
        "shape": shape(msg),
        "type_param": msg.get_param("type"),
        "subject": str(msg["subject"]),
        "defects": defects,
        "ascii_only": all(b < 0x80 for b in raw),
        "no_bare_lf": b"\n" not in raw.replace(b"\r\n", b""),
        "max_line": max(len(line) for line in raw.split(b"\r\n")),
        "plain": plain.get_content() if plain is not None else None,
        "plain_charset": plain.get_content_charset() if plain is not None else None,
        "html": html.get_content() if html is not None else None,
        "html_charset": html.get_content_charset() if html is not None else None,
        "images": len(images),
    }
    if images:
        image = images[0]
        out["cid"] = (image["content-id"] or "").strip().strip("<>")
        out["disposition"] = image.get_content_disposition()
        out["filename"] = image.get_filename()
        png = image.get_content()
        out["png_signature_ok"] = png.startswith(b"\x89PNG\r\n\x1a\n")
        with open(sys.argv[2], "wb") as f:
            f.write(png)
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    sys.exit(main())
