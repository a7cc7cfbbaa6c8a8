"""Run the real ReqMgr2 REST server (WMCore) in the foreground, for tests and trials.

Runs under the *ReqMgr2 venv's* Python (PyPI ``reqmgr2``), never under WMS2's: it imports WMCore and
the standard library only.  Usage: ``python launch_reqmgr2.py SETTINGS.json``; the settings file is
written by :mod:`wms2.devservices.reqmgr2.server` and holds the ports, the CouchDB URL, the HMAC key file
and the local answers for the outside CMS services.

Outside services ReqMgr2 consults while it validates a request are answered locally, by a small HTTP
server in this process (``/work/shared/design/reqmgr2-local.md``, pitfall 3):

- the CMSSW release list (normally the CMS software site's ReleasesXML): WMCore's TagCollector is pointed
  at ``http://127.0.0.1:<outside_port>/SDT/cgi-bin/ReleasesXML``, which lists the configured releases;
- DBS: requests carry ``DbsUrl = http://127.0.0.1:<outside_port>/dbs/prod/global/DBSReader``, which
  answers ``serverinfo`` (the "DBS answers" check) and ``datatiers`` (the output data-tier check);
- MSTransferor: after a priority or site-list change ReqMgr2 POSTs ``{"workflow": name}`` to
  ``/ms-transferor/data/transferor`` (WMCore ``ReqMgr/Service/Request.py``), answered with no error.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import quoteattr

DBS_PATH = "/dbs/prod/global/DBSReader"
RELEASES_PATH = "/SDT/cgi-bin/ReleasesXML"
TRANSFEROR_PATH = "/ms-transferor/data/transferor"


def releases_xml(releases: dict[str, list[str]]) -> bytes:
    """The ReleasesXML document: ``<projects><architecture name=A><project label=R type=Production
    state=Announced/>...</architecture></projects>``."""
    parts = ["<projects>"]
    for arch, labels in releases.items():
        parts.append(f"<architecture name={quoteattr(arch)}>")
        parts += [f"<project label={quoteattr(lab)} type=\"Production\" state=\"Announced\"/>" for lab in labels]
        parts.append("</architecture>")
    parts.append("</projects>")
    return "".join(parts).encode()


def outside_handler(settings: dict[str, Any]) -> type[BaseHTTPRequestHandler]:
    releases = releases_xml(settings["releases"])
    tiers = json.dumps([{"data_tier_name": t} for t in settings["data_tiers"]]).encode()
    info = json.dumps({"dbs_instance": "prod/global", "dbs_version": "local"}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0].rstrip("/")
            answers = {RELEASES_PATH: (releases, "text/xml"), f"{DBS_PATH}/serverinfo": (info, "application/json"),
                       f"{DBS_PATH}/datatiers": (tiers, "application/json")}
            if path not in answers:
                self.send_error(404, f"no local answer for {path}")
                return
            body, ctype = answers[path]
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            # MSTransferor: ReqMgr2 asks it to re-place a request's data after a priority or site-list
            # change; there is no data placement here, so the answer is "nothing to do".
            if self.path.split("?", 1)[0].rstrip("/") != TRANSFEROR_PATH:
                self.send_error(404, f"no local answer for POST {self.path}")
                return
            length = int(self.headers.get("Content-Length") or 0)
            request = json.loads(self.rfile.read(length) or b"{}")
            body = json.dumps({"result": [{"workflow": request.get("workflow"), "status": "ok"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt: str, *args: Any) -> None:
            sys.stderr.write("outside-answers: " + (fmt % args) + "\n")

    return Handler


def start_outside_answers(settings: dict[str, Any]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", settings["outside_port"]), outside_handler(settings))
    threading.Thread(target=server.serve_forever, name="outside-answers", daemon=True).start()
    return server


def build_config(settings: dict[str, Any]) -> Any:
    from WMCore.Configuration import Configuration

    config = Configuration()
    main = config.section_("main")
    srv = main.section_("server")
    srv.thread_pool = settings["thread_pool"]
    srv.socket_host = "127.0.0.1"
    srv.environment = "staging"
    main.application = "reqmgr2"
    main.port = settings["port"]
    main.local_base = f"127.0.0.1:{settings['port']}"
    main.index = "ui"  # not "data" (no ui view here), so that the REST API mounts at /reqmgr2/data
    main.authz_defaults = {"role": None, "group": None, "site": None}
    main.section_("tools").section_("cms_auth").key_file = settings["hmac_key_file"]
    app = config.section_("reqmgr2")
    app.admin = "wms2-dev@localhost"
    app.description = "ReqMgr2 run by WMS2 for tests and trials"
    app.title = "ReqMgr2 (local)"
    views = config.section_("views")
    data = views.section_("data")
    data.object = "WMCore.ReqMgr.Service.RestApiHub.RestApiHub"
    data.couch_host = settings["couch_url"]
    data.couch_reqmgr_db = "reqmgr_workload_cache"
    data.couch_reqmgr_aux_db = "reqmgr_auxiliary"
    data.couch_config_cache_db = "reqmgr_config_cache"
    data.couch_workload_summary_db = "workloadsummary"
    data.couch_wmstats_db = "wmstats"
    data.couch_wmdatamining_db = "wmdatamining"
    data.couch_acdc_db = "acdcserver"
    data.couch_workqueue_db = "workqueue"
    data.central_logdb_url = f"{settings['couch_url']}/wmstats_logdb"
    data.log_reporter = "request_manager"
    data.default_view_requests_since_num_days = 30
    data.tag_collector_url = settings["releases_url"]
    data.default_sw_version = settings["default_release"]
    data.default_sw_scramarch = settings["default_arch"]
    data.dqm_url = "http://127.0.0.1/dqm/dev"
    data.dbs_url = settings["dbs_url"]
    data.ms_transferor_url = f"http://127.0.0.1:{settings['outside_port']}/ms-transferor"
    data.authz_by_status = settings["authz_by_status"]
    data.authorized_roles = settings["authorized_roles"]
    return config


def point_tag_collector(url: str) -> None:
    """ReqMgr2 validates CMSSWVersion/ScramArch through a module-level TagCollector built with the CMS
    software site's URL; point it at the local release list instead."""
    from WMCore.ReqMgr.Tools import cms
    from WMCore.Services.TagCollector.TagCollector import TagCollector

    cms.TC = TagCollector(url=url)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: launch_reqmgr2.py SETTINGS.json\n")
        return 2
    with open(argv[1]) as fh:
        settings = json.load(fh)
    os.environ["DONT_DAEMONIZE_REST"] = "True"
    os.environ["PYTHONUNBUFFERED"] = "1"
    start_outside_answers(settings)
    point_tag_collector(settings["releases_url"])
    from WMCore.REST.Main import RESTDaemon

    try:
        RESTDaemon(build_config(settings), settings["state_dir"]).run()
    except BaseException:  # a server that cannot start must exit (CherryPy leaves threads that would hold it)
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
