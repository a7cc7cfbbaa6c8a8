"""Drive ReqMgr2 with WMCore's own client (``WMCore.Services.ReqMgr.ReqMgr``), as a requestor/operator.

Runs under the ReqMgr2 venv's Python (it has WMCore; WMS2's venv does not).  Reads one JSON object on
stdin: ``{"url": "<.../reqmgr2>", "headers": {...signed front-end headers...}, "action": A, ...}`` and
prints one JSON object on stdout.  Actions: ``create`` (``doc``) -> ``{"name"}``; ``status`` (``name``,
``status``); ``update`` (``name``, ``fields``); ``get`` (``name``) -> ``{"doc"}``; ``assign`` (``docs``: a
list of ``{"doc", "assignment"}``): create, approve and assign each, in one process (WMCore's imports cost
about a CPU second per process) -> ``{"names"}``.
"""

import json
import sys

from WMCore.Services.ReqMgr.ReqMgr import ReqMgr


def main() -> int:
    order = json.load(sys.stdin)
    mgr = ReqMgr(order["url"])
    mgr._noStale = True
    mgr["requests"].additionalHeaders.update(order["headers"])
    action = order["action"]
    if action == "create":
        result = mgr.insertRequests(order["doc"])
        out = {"name": result[0]["request"]}
    elif action == "status":
        out = {"result": mgr.updateRequestStatus(order["name"], order["status"])}
    elif action == "update":
        out = {"result": mgr.updateRequestProperty(order["name"], order["fields"])}
    elif action == "assign":
        names = []
        for item in order["docs"]:
            name = mgr.insertRequests(item["doc"])[0]["request"]
            mgr.updateRequestStatus(name, "assignment-approved")
            mgr.updateRequestProperty(name, {"RequestStatus": "assigned", **item["assignment"]})
            names.append(name)
        out = {"names": names}
    elif action == "get":
        out = {"doc": mgr.getRequestByNames(order["name"])[0][order["name"]]}
    else:
        sys.stderr.write(f"unknown action {action}\n")
        return 2
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
