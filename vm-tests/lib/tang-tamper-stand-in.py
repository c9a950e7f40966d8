#!/usr/bin/env python3
"""A stand-in for a man in the middle in front of the real tangd (vm-tests/lib/tang.sh), for the
unlock-tang-tampered scenario: `GET /adv` answers the real advertisement with one more exchange
key added to its payload (an attacker's key) and the server's signatures left as they were, so
the signature no longer covers the payload; `POST /rec/KID` is passed to the real tangd
unchanged. No real Tang server can be made to sign a wrong payload: this is the only stand-in.

    tang-tamper-stand-in.py LISTEN_PORT TANGD_PORT ATTACKER_JWK_FILE
"""
import base64
import http.server
import json
import sys
import urllib.request

listen_port, tangd_port, attacker_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
tangd = f"http://127.0.0.1:{tangd_port}"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def tampered_adv() -> bytes:
    with urllib.request.urlopen(f"{tangd}/adv") as answer:
        jws = json.load(answer)
    keys = json.loads(unb64(jws["payload"]))
    with open(attacker_file) as f:
        keys["keys"].append(json.load(f))
    jws["payload"] = b64(json.dumps(keys).encode())
    return json.dumps(jws).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/adv":
            self.answer(200, tampered_adv(), "application/jose+json")
        else:
            self.answer(404, b"", "text/plain")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        request = urllib.request.Request(
            tangd + self.path, data=body, method="POST",
            headers={"Content-Type": self.headers.get("Content-Type", "application/jwk+json")})
        try:
            with urllib.request.urlopen(request) as answer:
                self.answer(answer.status, answer.read(), answer.headers.get("Content-Type", ""))
        except urllib.error.HTTPError as e:
            self.answer(e.code, e.read(), "text/plain")


http.server.ThreadingHTTPServer(("127.0.0.1", listen_port), Handler).serve_forever()
