"""A real HTTP server on loopback that answers like ReqMgr2's ``GET /reqmgr2/data/request?name=...``.

It serves the ``*Dump.json`` request documents of the shared fixtures read as they are, inside the
``{"result": [{"<RequestName>": {...}}]}`` envelope ReqMgr2 puts around them (``cms-formats.md`` §1.1;
the fixture files hold the bare documents).  Unknown names answer ``{"result": []}``.  ``script`` holds
canned replies consumed one per request before the normal behaviour (errors, retries, odd bodies).
Every request is recorded (path, query, headers) so tests can assert what was, or was not, sent.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

BASE_PATH = "/reqmgr2/data"
DUMPS = ("ReRecoRequestDump", "StepChainRequestDump", "TaskChainRequestDump")


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    content_length: bool = True  # False: no Content-Length, the body ends when the connection closes
    delay_s: float = 0.0


@dataclass
class Seen:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class FakeReqMgr2:
    url: str = ""
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    script: deque[Reply] = field(default_factory=deque)
    requests: list[Seen] = field(default_factory=list)
    token: str | None = None  # when set, any other Authorization answers 401
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reply_for(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> Reply:
        with self.lock:
            self.requests.append(Seen(path, query, headers))
            if self.script:
                return self.script.popleft()
        if self.token is not None and headers.get("authorization") != f"Bearer {self.token}":
            return Reply(401, b"<html><body>401 Unauthorized</body></html>", "text/html")
        if path != f"{BASE_PATH}/request":
            return Reply(404, b"not found", "text/plain")
        name = query.get("name", [""])[0]
        doc = self.documents.get(name)
        result = [{name: doc}] if doc is not None else []
        return Reply(200, json.dumps({"result": result}).encode())


def load_dumps(fixtures_dir: Path) -> dict[str, dict[str, Any]]:
    """The fixture request documents by their RequestName, unmodified."""
    docs = {}
    for stem in DUMPS:
        doc = json.loads((fixtures_dir / "reqmgr2" / f"{stem}.json").read_text())
        docs[doc["RequestName"]] = doc
    return docs


def _handler(fake: FakeReqMgr2) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply = fake.reply_for(parts.path, parse_qs(parts.query, keep_blank_values=True), headers)
            if reply.delay_s:
                time.sleep(reply.delay_s)
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            if reply.content_length:
                self.send_header("Content-Length", str(len(reply.body)))
            else:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@contextmanager
def running_reqmgr2(fixtures_dir: Path) -> Iterator[FakeReqMgr2]:
    """The fake on 127.0.0.1 (ephemeral port); ``fake.url`` is its ``.../reqmgr2/data`` base."""
    fake = FakeReqMgr2(documents=load_dumps(fixtures_dir))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    httpd.daemon_threads = True
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}{BASE_PATH}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def dead_url() -> str:
    """A loopback URL where nothing listens (the port was just free)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{BASE_PATH}"
