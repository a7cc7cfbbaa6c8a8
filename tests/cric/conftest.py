"""CRIC-shaped tables (hand-made, in the shapes of cms-formats.md §5) and a local CRIC over HTTP."""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from wms2.config import Settings, load_settings
from wms2.services.cric import forget_topologies

# (type, site_name, alias): processing sites (psn), storage nodes (phedex), and rows WMS2 ignores.
SITE_NAMES_ROWS = [
    ["psn", "CERN-PROD", "T2_CH_CERN"],
    ["phedex", "CERN-PROD", "T2_CH_CERN"],
    ["cms", "CERN-PROD", "T2_CH_CERN"],
    ["lcg", "CERN-PROD", "CERN-PROD"],
    ["psn", "USCMS-FNAL-WC1", "T1_US_FNAL"],
    ["phedex", "USCMS-FNAL-WC1", "T1_US_FNAL_Disk"],
    ["phedex", "USCMS-FNAL-WC1", "T1_US_FNAL_Buffer"],
    ["phedex", "USCMS-FNAL-WC1", "T1_US_FNAL_MSS"],
    ["psn", "USCMS-FNAL-LPC", "T3_US_FNALLPC"],
    ["phedex", "USCMS-FNAL-LPC", "T3_US_FNALLPC"],
    ["psn", "DESY-HH", "T2_DE_DESY"],
    ["phedex", "DESY-HH", "T2_DE_DESY"],
    ["psn", "WMS2-Local", "T2_XX_SiteA"],
    ["phedex", "WMS2-Local", "T2_XX_SiteA"],
    ["psn", "WMS2-Local", "T1_XX_SiteB"],
    ["phedex", "WMS2-Local", "T1_XX_SiteB_Disk"],
    ["phedex", "WMS2-Local", "T1_XX_SiteB_Tape"],
    ["psn", "WMS2-Local", "T2_XX_SiteC"],  # storage named unlike the CMS convention (<site> for a T2)
    ["phedex", "WMS2-Local", "T2_XX_SiteC_Store"],
]
# (phedex_name, psn_name): which processing sites may read which storage node.
DATA_PROCESSING_ROWS = [
    ["T2_CH_CERN", "T2_CH_CERN"],
    ["T1_US_FNAL_Disk", "T1_US_FNAL"],
    ["T3_US_FNALLPC", "T1_US_FNAL"],
    ["T1_US_FNAL_Disk", "T3_US_FNALLPC"],
    ["T3_US_FNALLPC", "T3_US_FNALLPC"],
    ["T2_DE_DESY", "T2_DE_DESY"],
    ["T2_XX_SiteA", "T2_XX_SiteA"],
    ["T1_XX_SiteB_Disk", "T1_XX_SiteB"],
    ["T2_XX_SiteC_Store", "T2_XX_SiteC"],
]


def flattened(columns: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    return {"desc": {"columns": columns}, "result": rows}


def unflattened(columns: list[str], rows: list[list[Any]]) -> list[dict[str, Any]]:
    return [dict(zip(columns, r, strict=True)) for r in rows]


SITE_NAMES = flattened(["type", "site_name", "alias"], SITE_NAMES_ROWS)
DATA_PROCESSING = flattened(["phedex_name", "psn_name"], DATA_PROCESSING_ROWS)


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    forget_topologies()
    yield
    forget_topologies()


def write_tables(directory: Path, site_names: Any = SITE_NAMES,
                 data_processing: Any = DATA_PROCESSING) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    names, links = directory / "site-names.json", directory / "data-processing.json"
    names.write_text(json.dumps(site_names))
    links.write_text(json.dumps(data_processing))
    return names, links


def file_settings(tmp_path: Path, **tables: Any) -> Settings:
    names, links = write_tables(tmp_path / "cric", **tables)
    return load_settings(tmp_path / "home", sites={"backend": "cric", "cric_site_names_file": names,
                                                    "cric_data_processing_file": links})


@dataclass
class CricState:
    """What the local CRIC serves: per preset a queue of (status, body) answers, the last one repeated;
    ``requests`` records (path, headers) of each call; ``no_length`` sends the body without Content-Length."""

    answers: dict[str, list[tuple[int, bytes]]] = field(default_factory=lambda: {
        "site-names": [(200, json.dumps(SITE_NAMES).encode())],
        "data-processing": [(200, json.dumps(DATA_PROCESSING).encode())],
    })
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    no_length: bool = False

    def answer(self, preset: str) -> tuple[int, bytes]:
        queue = self.answers.get(preset)
        if not queue:
            return 404, b"unknown preset"
        return queue.pop(0) if len(queue) > 1 else queue[0]


@contextmanager
def serve(state: CricState, tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """A local CRIC answering from ``state`` (over TLS with ``tls``); yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append((self.path, dict(self.headers.items())))
            parts = urlsplit(self.path)
            params = dict(p.partition("=")[::2] for p in parts.query.split("&"))
            if parts.path != "/api/cms/site/query/" or "json" not in params:
                code, body = 404, b"not found"
            else:
                code, body = state.answer(params.get("preset", ""))
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            if state.no_length:
                self.send_header("Connection", "close")
            else:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def cric_server() -> Iterator[tuple[str, CricState]]:
    state = CricState()
    with serve(state) as url:
        yield url, state


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its EC key (openssl, a few ms of CPU)."""
    cert, key = directory / f"{name}cert.pem", directory / f"{name}key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", f"/CN={name}",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


def url_settings(tmp_path: Path, url: str, **sites: Any) -> Settings:
    return load_settings(tmp_path / "home", sites={"backend": "cric", "cric_url": url, "cric_retry_backoff_s": 0.01,
                                                    "cric_timeout_s": 5.0, **sites})
