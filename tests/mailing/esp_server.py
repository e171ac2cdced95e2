"""A tiny Mailgun-speaking HTTP server for the ESP transport tests.

It answers POST /v3/<domain>/messages the way Mailgun's API does (basic auth "api:<key>",
multipart form, 200 {"id", "message": "Queued. Thank you."}; 400 for an invalid address in
"to"; 401 for a wrong key), records every call, and expands each recipient's copy from the
recipient-variables the way Mailgun does, so a test can read what each person would receive.
Rules make it answer 503 or 429 to the next N calls.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

API_KEY = "key-test-0123456789"
_VARIABLE = re.compile(r"%recipient\.([^%]+)%")


@dataclass
class Call:
    domain: str
    fields: list[tuple[str, str]]

    def values(self, name: str) -> list[str]:
        return [value for key, value in self.fields if key == name]

    def value(self, name: str) -> str:
        return next(iter(self.values(name)), "")


@dataclass
class Copy:
    """What one recipient receives: the call's content with their variables filled in."""

    to: str
    subject: str
    text: str
    html: str
    headers: dict[str, str]
    custom: dict[str, str]


@dataclass
class EspServer:
    calls: list[Call] = field(default_factory=list)
    fail_next: int = 0  # answer 503 to this many calls
    throttle_next: int = 0  # answer 429 to this many calls
    port: int = 0
    _server: ThreadingHTTPServer | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v3"

    def copies(self) -> list[Copy]:
        out = []
        for call in self.calls:
            variables = json.loads(call.value("recipient-variables") or "{}")
            for to in call.values("to"):
                mine = variables.get(to, {})

                def fill(text: str, mine: dict[str, Any] = mine) -> str:
                    return _VARIABLE.sub(lambda m: str(mine.get(m[1], "")), text)

                out.append(
                    Copy(
                        to=to,
                        subject=fill(call.value("subject")),
                        text=fill(call.value("text")),
                        html=fill(call.value("html")),
                        headers={k[2:]: fill(v) for k, v in call.fields if k.startswith("h:")},
                        custom={k[2:]: fill(v) for k, v in call.fields if k.startswith("v:")},
                    )
                )
        return out

    def start(self) -> EspServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                match = re.fullmatch(r"/v3/([^/]+)/messages", self.path)
                if match is None:
                    self._answer(404, {"message": "not found"})
                    return
                expected = "Basic " + base64.b64encode(f"api:{API_KEY}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    self._answer(401, {"message": "Invalid private key"})
                    return
                call = Call(domain=match[1], fields=list(_form(self.headers, body)))
                if owner.fail_next > 0:
                    owner.fail_next -= 1
                    self._answer(503, {"message": "Service Unavailable"})
                    return
                if owner.throttle_next > 0:
                    owner.throttle_next -= 1
                    self._answer(429, {"message": "Too many requests"})
                    return
                if any(_invalid(address) for address in call.values("to")):
                    self._answer(
                        400, {"message": "'to' parameter is not a valid address. please check"}
                    )
                    return
                owner.calls.append(call)
                self._answer(
                    200, {"id": f"<{uuid.uuid4()}@{call.domain}>", "message": "Queued. Thank you."}
                )

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _invalid(address: str) -> bool:
    local, _, domain = address.rpartition("@")
    return not local or "." not in domain or domain.endswith(".invalid")


def _form(headers: Any, body: bytes) -> Iterator[tuple[str, str]]:
    """Form fields in order (repeated names kept), urlencoded or multipart, as text."""
    if headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
        yield from parse_qsl(body.decode(), keep_blank_values=True)
        return
    head = f"Content-Type: {headers['Content-Type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        yield str(name), payload.decode(part.get_content_charset() or "utf-8")
