"""Prepare the CouchDB stand-in for ReqMgr2: databases, design documents, auxiliary documents.

A couchapp folder becomes one ``_design/<name>`` document: ``_id`` and ``language`` files give those
keys, ``validate_doc_update.js`` the validation function, ``views/V/map.js`` (``reduce.js``) the view
``V``, and ``updates/``, ``filters/``, ``shows/``, ``lists/`` one function per file.  Leading ``//``
comment lines are dropped: PouchDB cannot evaluate a function whose source starts with one
(``reqmgr2-local.md`` pitfall 2).  Every step is idempotent (an existing document is replaced).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

DATABASES = ("reqmgr_workload_cache", "reqmgr_auxiliary", "reqmgr_config_cache", "workqueue", "workqueue_inbox",
             "wmstats", "wmstats_logdb", "workloadsummary", "acdcserver")
# The global WorkQueue's databases: ReqMgr2 asks them about a request on abort and on a priority change.
# WMS2 plays the global WorkQueue for its teams, so they stay empty; the PyPI package ships no WorkQueue
# couchapp, so the three views ReqMgr2 reads are defined here (workqueue_views/<view>.map.js).
WORKQUEUE_DATABASES = ("workqueue", "workqueue_inbox")
COUCHAPPS = {"ReqMgr": "reqmgr_workload_cache", "ReqMgrAux": "reqmgr_auxiliary",
             "ConfigCache": "reqmgr_config_cache"}
FUNCTION_FOLDERS = ("updates", "filters", "shows", "lists")
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
TIMEOUT_S = 30.0


class CouchSetupError(RuntimeError):
    """The CouchDB stand-in refused a setup step."""


def function_source(path: Path) -> str:
    lines = path.read_text().splitlines()
    while lines and (lines[0].lstrip().startswith("//") or not lines[0].strip()):
        lines.pop(0)
    return "\n".join(lines) + "\n"


def design_document(folder: Path) -> dict[str, Any]:
    doc: dict[str, Any] = {"_id": (folder / "_id").read_text().strip() if (folder / "_id").is_file()
                           else f"_design/{folder.name}"}
    if (folder / "language").is_file():
        doc["language"] = (folder / "language").read_text().strip()
    if (folder / "validate_doc_update.js").is_file():
        doc["validate_doc_update"] = function_source(folder / "validate_doc_update.js")
    views: dict[str, dict[str, str]] = {}
    for view in sorted(p for p in (folder / "views").glob("*") if p.is_dir()):
        views[view.name] = {f.stem: function_source(f) for f in sorted(view.glob("*.js"))}
    if views:
        doc["views"] = views
    for kind in FUNCTION_FOLDERS:
        functions = {f.stem: function_source(f) for f in sorted((folder / kind).glob("*.js"))}
        if functions:
            doc[kind] = functions
    return doc


def workqueue_design() -> dict[str, Any]:
    folder = Path(__file__).with_name("workqueue_views")
    views = {f.name.removesuffix(".map.js"): {"map": function_source(f), "reduce": "_count"}
             for f in sorted(folder.glob("*.map.js"))}
    return {"_id": "_design/WorkQueue", "language": "javascript", "views": views}


class CouchSetup:
    def __init__(self, url: str, couchapps: Path) -> None:
        self.url = url.rstrip("/")
        self.couchapps = couchapps
        self.http = httpx.Client(timeout=TIMEOUT_S, headers=JSON_HEADERS)

    def run(self, releases: dict[str, list[str]]) -> None:
        try:
            for db in DATABASES:
                self._create_db(db)
            for app, db in COUCHAPPS.items():
                self.put_document(db, design_document(self.couchapps / app))
            for db in WORKQUEUE_DATABASES:
                self.put_document(db, workqueue_design())
            for doc_id in ("software", "CMSSW_VERSIONS"):
                self.put_document("reqmgr_auxiliary", {"_id": doc_id, **releases})
        finally:
            self.http.close()

    def _create_db(self, db: str) -> None:
        answer = self.http.put(f"{self.url}/{db}")
        if answer.status_code not in (httpx.codes.CREATED, httpx.codes.PRECONDITION_FAILED, httpx.codes.OK):
            raise CouchSetupError(f"create database {db}: HTTP {answer.status_code} {answer.text[:200]}")

    def put_document(self, db: str, doc: dict[str, Any]) -> None:
        """Create or replace ``doc`` (by ``_id``)."""
        url = f"{self.url}/{db}/{doc['_id']}"
        existing = self.http.get(url)
        body = dict(doc)
        if existing.status_code == httpx.codes.OK:
            body["_rev"] = existing.json()["_rev"]
        answer = self.http.put(url, json=body)
        if answer.status_code not in (httpx.codes.CREATED, httpx.codes.OK, httpx.codes.ACCEPTED):
            raise CouchSetupError(f"store {db}/{doc['_id']}: HTTP {answer.status_code} {answer.text[:200]}")
