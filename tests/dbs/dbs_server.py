"""A small local HTTP server the REAL ``dbs3-client`` ``DbsApi`` talks to in the tests.

Reader calls (GET) are answered from recorded answers (``data/reader_answers.json``: un-aggregated rows,
as dbs2go emits them; how they were obtained is said in that file and in docs/design-notes/dbs.md).  An
answer matches a request when the API name matches and every parameter it lists equals the request's.

Writer calls: ``POST /bulkblocks`` stores the payload (a block name seen before is refused the way dbs2go
refuses it: HTTP 400 with its JSON error list, code 128 ``Block <name> already exists``); the files of
stored blocks are then served by ``GET /files?block_name=...``; ``PUT /files`` records invalidations.

Fault injection: ``fail_next`` holds (status, content type, body) answers returned, in order, before the
normal handling of the next requests.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

DATA = Path(__file__).resolve().parent / "data"
BASE = "/dbs/int/global"
BLOCK_EXISTS_CODE = 128  # dbs2go dbs/errors.go BlockAlreadyExists


def dbs_error(status: int, code: int, message: str, reason: str, function: str, path: str) -> bytes:
    """An error answer in dbs2go's shape: a one-element JSON list (error / http / exception / message)."""
    return json.dumps([{
        "error": {"reason": reason, "message": message, "function": function, "code": code,
                  "stacktrace": "\ngoroutine 1 [running]:\n"},
        "http": {"method": "POST", "code": status, "timestamp": "2026-12-03 08:00:00 +0000 UTC", "path": path,
                 "user_agent": "DBSClient/Unknown/wms2", "x_forwarded_host": "", "x_forwarded_for": "",
                 "remote_addr": "127.0.0.1:40000"},
        "exception": status, "type": "HTTPError",
        "message": f"DBSError Code:{code} Description:Not defined Function:{function} Message:{message} "
                   f"Error: {reason}",
    }]).encode()


@dataclass
class Request:
    method: str
    api: str
    params: dict[str, str]
    body: Any = None


@dataclass
class DbsState:
    answers: list[dict[str, Any]] = field(default_factory=list)
    blocks: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    fail_next: list[tuple[int, str, bytes]] = field(default_factory=list)
    invalidated: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def calls(self, method: str, api: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and r.api == api]


def _flat(query: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep the test output quiet
        return

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _route(self, method: str) -> None:
        state = self.server.state
        url = urlsplit(self.path)
        if not url.path.startswith(BASE):
            self._send(404, b"not found", "text/plain")
            return
        api = url.path.rsplit("/", 1)[-1]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw and method == "POST" else None
        with state.lock:
            state.requests.append(Request(method, api, _flat(url.query), body))
            fault = state.fail_next.pop(0) if state.fail_next else None
        if fault is not None:
            self._send(fault[0], fault[2], fault[1])
            return
        handler = getattr(self, f"_{method.lower()}_{api}", None)
        if handler is not None:
            handler(_flat(url.query), body, url.path)
            return
        self._replay(api, _flat(url.query))

    def _replay(self, api: str, params: dict[str, str]) -> None:
        for ans in self.server.state.answers:
            if ans["api"] == api and all(params.get(k) == str(v) for k, v in ans.get("params", {}).items()):
                raw = ans.get("raw")
                self._send(int(ans.get("status", 200)), raw.encode() if raw is not None
                           else json.dumps(ans["body"]).encode(), ans.get("content_type", "application/json"))
                return
        self._send(200, b"[]")  # dbs2go answers an empty list when nothing matches

    def _post_bulkblocks(self, params: dict[str, str], body: Any, path: str) -> None:
        state = self.server.state
        name = body["block"]["block_name"]
        with state.lock:
            if name in state.blocks:
                self._send(400, dbs_error(400, BLOCK_EXISTS_CODE, "Data already exist in DBS",
                                          f"Block {name} already exists",
                                          "dbs.bulkblocks.InsertBulkBlocksConcurrently", path))
                return
            state.blocks[name] = body
        self._send(200, b"[]")

    def _get_files(self, params: dict[str, str], body: Any, path: str) -> None:
        block = params.get("block_name")
        stored = self.server.state.blocks.get(block or "")
        if stored is None:
            self._replay("files", params)
            return
        rows = [{"logical_file_name": f["logical_file_name"]} for f in stored["files"]]
        self._send(200, json.dumps(rows).encode())

    def _put_files(self, params: dict[str, str], body: Any, path: str) -> None:
        lfn = params.get("logical_file_name", "")
        if not lfn.startswith("/store/"):  # dbs2go filters on the LFN only when exactly one is given
            self._send(400, dbs_error(400, 118, "one logical_file_name expected", f"got {lfn!r}",
                                      "dbs.files.UpdateFiles", path))
            return
        with self.server.state.lock:
            self.server.state.invalidated.append(lfn)
        self._send(200, b"[]")

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: DbsState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


class DbsTestServer:
    """Started in a thread; ``reader_url``/``writer_url`` are what WMS2's settings would hold."""

    def __init__(self, answers: list[dict[str, Any]] | None = None) -> None:
        self.state = DbsState(answers=list(answers or []))
        self._server = _Server(self.state)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{BASE}"

    @property
    def reader_url(self) -> str:
        return f"{self.base}/DBSReader"

    @property
    def writer_url(self) -> str:
        return f"{self.base}/DBSWriter"

    def start(self) -> DbsTestServer:
        self._thread.start()
        deadline = time.monotonic() + 5
        while not self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def recorded_answers() -> list[dict[str, Any]]:
    doc = json.loads((DATA / "reader_answers.json").read_text())
    return list(doc["answers"])
