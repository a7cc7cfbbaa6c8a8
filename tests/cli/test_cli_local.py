"""The operator commands in local mode (the database under --home), each with --json."""

from __future__ import annotations

from tests.api.conftest import RecordingEngine
from tests.cli.conftest import State, wms2


def test_queue_in_admission_order(state: State) -> None:
    q = wms2("queue", "--json").json()
    assert [e["name"] for e in q["items"]] == ["q_high", "q_low"]
    assert [e["position"] for e in q["items"]] == [1, 2]
    assert q["queue_depth"] == 2 and q["active_dags"] == 1
    assert q["free_slots"] == q["max_active_dags"] - 1
    text = wms2("queue")
    assert text.code == 0 and "q_high" in text.out and "2 queued" in text.out


def test_priority_changes_queue_order_and_audit(state: State) -> None:
    out = wms2("priority", "q_low", "9000", "--reason", "campaign deadline", "--json").json()
    assert out["name"] == "q_low" and out["priority"] == 9000
    assert [e["name"] for e in wms2("queue", "--json").json()["items"]] == ["q_low", "q_high"]
    audit = wms2("show", "q_low", "--json").json()["status_transitions"][-1]
    assert audit["from"] == audit["to"] == "queued" and "campaign deadline" in audit["reason"]
    assert audit["by"].startswith("cli:")
    bad = wms2("priority", "q_low", "10000000", "--reason", "x")
    assert bad.code == 2 and "priority" in bad.err and "999999" in bad.err
    assert wms2("priority", "nope", "5", "--reason", "x").code == 4
    assert wms2("priority", "r_done", "5", "--reason", "x").code == 3  # terminal


def test_sites_drain_enable(state: State) -> None:
    sites = wms2("sites", "--json").json()
    assert [s["name"] for s in sites] == ["T1_XX_SiteB", "T2_XX_SiteA"]
    assert {s["name"]: s["active_bans"] for s in sites} == {"T1_XX_SiteB": 0, "T2_XX_SiteA": 1}
    out = wms2("drain", "T1_XX_SiteB", "--reason", "downtime", "--json").json()
    assert out["status"] == "draining" and out["reason"] == "downtime" and out["updated_by"].startswith("cli:")
    assert wms2("drain", "T1_XX_SiteB", "--reason", "again").code == 3
    assert [s["name"] for s in wms2("sites", "--status", "draining", "--json").json()] == ["T1_XX_SiteB"]
    assert wms2("enable", "T1_XX_SiteB", "--reason", "back", "--json").json()["status"] == "enabled"
    assert wms2("enable", "T2_NO_Such", "--reason", "x").code == 4


def test_bans_list_and_lift(state: State) -> None:
    bans = wms2("bans", "--json").json()
    assert [b["site"] for b in bans] == ["T2_XX_SiteA"] and bans[0]["active"]
    assert wms2("bans", "list", "--json").json() == bans
    assert len(wms2("bans", "--all", "--json").json()) == 2
    lifted = wms2("ban", "lift", str(bans[0]["id"]), "--reason", "site fixed", "--json").json()
    assert not lifted["active"] and lifted["removed_by"].startswith("cli:")
    assert lifted["failure_data"]["lift_reason"] == "site fixed"
    assert wms2("bans", "--json").json() == []
    assert wms2("ban", "lift", str(bans[0]["id"]), "--reason", "again").code == 3
    assert wms2("bans", "lift", "999", "--reason", "x").code == 4
    assert wms2("ban", "lift", "1", "--reason", "").code == 2


def test_dag_nodes_live_view(state: State) -> None:
    nodes = wms2("dag", "nodes", "r_active", "--json").json()
    assert nodes["available"] and nodes["total"] == 2 and nodes["dag_status"].startswith("submitted")
    wu = nodes["work_units"][0]
    assert wu["node"] == "mg_000000" and wu["site"] == "T2_XX_SiteA" and wu["status"] == "submitted"
    by_node = {n["node"]: n for n in wu["nodes"]}
    assert by_node["proc_000001"]["exit_code"] == 50660 and by_node["proc_000001"]["retries"] == 2
    assert by_node["proc_000002"]["exit_code"] == 8001 and by_node["proc_000002"]["status"] == "error"
    assert nodes["work_units"][1]["status"] == "done"
    one = wms2("dag", "nodes", "r_active", "--limit", "1", "--offset", "1", "--json").json()
    assert [w["node"] for w in one["work_units"]] == ["mg_000001"] and one["total"] == 2
    text = wms2("dag", "nodes", "r_active")
    assert text.code == 0 and "proc_000002" in text.out and "8001" in text.out
    assert wms2("dag", "nodes", "q_low").code == 3  # no DAG yet
    assert wms2("dag", "nodes", "nope").code == 4


def test_watch_once(state: State) -> None:
    frame = wms2("watch", "r_active", "--once", "--json").json()
    assert frame["status"] == "active" and frame["rounds"][0]["done"] == 1 and frame["rounds"][0]["total"] == 2
    assert frame["work_units"][0] == {"work_unit": "mg_000000", "status": "submitted", "site": "T2_XX_SiteA",
                                      "done": 1, "total": 4}
    done = wms2("watch", "r_done", "--once", "--json").json()
    assert done["status"] == "completed" and done["work_units"] == [] and done["rounds"][0]["done"] == 2
    text = wms2("watch", "r_active", "--once")
    assert text.code == 0 and "mg_000000" in text.out and "1/2" in text.out
    assert wms2("watch", "nope", "--once").code == 4
    live = wms2("watch", "r_done", "--interval", "0.2")  # live mode ends by itself on a terminal request
    assert live.code == 0 and "completed" in live.out


def test_actions_through_the_engine(state: State, engine: RecordingEngine) -> None:
    out = wms2("stop", "r_active", "--reason", "site downtime", "--json").json()
    assert out["status"] == "stopping" and engine.removed[-1][0] == 4242 + 3
    assert wms2("stop", "q_low", "--reason", "x").code == 3
    failed = wms2("fail", "q_low", "--reason", "bad config", "--json").json()
    assert failed["status"] == "failed" and failed["produced"]["dag_removed"] is False
    assert wms2("abort", "r_new", "--reason", "duplicate", "--json").json()["status"] == "aborted"
    assert wms2("abort", "r_new", "--reason", "again").code == 3
    released = wms2("release", "r_held", "--reason", "fixed", "--memory", "3000", "--json").json()
    assert released["status"] == "queued"
    new = wms2("restart", "q_high", "--reason", "bad tune", "--json").json()
    assert new["name"] == "q_high" and new["new_request"].startswith("q_high_v")
    chain = wms2("versions", new["new_request"], "--json").json()
    assert [(v["name"], v["status"]) for v in chain] == [("q_high", "failed"), (new["new_request"], "submitted")]
    assert chain[1]["processing_version"] == chain[0]["processing_version"] + 1
    assert wms2("stop", "nope", "--reason", "x").code == 4
    assert wms2("stop", new["new_request"], "--reason", "").code == 2


def test_requests_filters_and_show(state: State) -> None:
    rows = wms2("requests", "--json").json()
    assert [r["name"] for r in rows] == ["r_new", "r_held", "r_done", "r_active", "q_high", "q_low"]
    assert {r["name"] for r in wms2("requests", "--status", "queued", "--json").json()} == {"q_low", "q_high"}
    assert wms2("requests", "--requestor", "nobody", "--json").json() == []
    detail = wms2("show", "r_done", "--json").json()
    assert detail["status"] == "completed" and detail["rounds"][0]["work_units_done"] == 2
    assert wms2("show", "nope").code == 4
