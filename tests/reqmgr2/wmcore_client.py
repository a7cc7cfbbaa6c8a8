"""Drive ReqMgr2 with WMCore's own client (``WMCore.Services.ReqMgr.ReqMgr``), as a requestor/operator.

Runs under the ReqMgr2 venv's Python (it has WMCore; WMS2's venv does not).  Reads one JSON object on
stdin: ``{"url": "<.../reqmgr2>", "headers": {...signed front-end headers...}, "action": A, ...}`` and
prints one JSON object on stdout.  Actions: ``create`` (``doc``) -> ``{"name"}``; ``status`` (``name``,
``status``); ``update`` (``name``, ``fields``); ``get`` (``name``) -> ``{"doc"}``.
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
    elif action == "get":
        out = {"doc": mgr.getRequestByNames(order["name"])[0][order["name"]]}
    else:
        sys.stderr.write(f"unknown action {action}\n")
        return 2
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
