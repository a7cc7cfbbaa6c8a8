"""Remote mode (--server/--token against a real uvicorn server) and the acceptance check: the CLI gives
the same answers in remote and local mode on the same state."""

from __future__ import annotations

from typing import Any

from tests.cli.conftest import Server, State, wms2

# Read commands compared byte for byte (after JSON parsing) between the two modes.
READS = [
    ["requests"], ["requests", "--status", "queued"], ["requests", "--status", "active"],
    ["show", "q_low"], ["show", "r_active"], ["show", "r_done"], ["show", "r_held"], ["show", "r_new"],
    ["queue"], ["queue", "--limit", "1", "--offset", "1"], ["sites"], ["sites", "--status", "enabled"],
    ["bans"], ["bans", "--all"], ["bans", "list"], ["versions", "r_done"], ["errors", "r_done"], ["errors", "r_held"],
    ["dag", "nodes", "r_active"], ["dag", "nodes", "r_active", "--limit", "1", "--offset", "1"],
    ["dag", "nodes", "r_done"], ["watch", "r_active", "--once"], ["watch", "r_done", "--once"],
]
TEXT = [["requests"], ["show", "r_done"], ["sites"], ["bans", "--all"], ["versions", "r_done"],
        ["errors", "r_held"], ["dag", "nodes", "r_active"], ["watch", "r_active", "--once"]]
EXIT_STATUS = {2: 422, 3: 409, 4: 404}
CLOCK_FIELDS = {"waiting_seconds"}  # computed from "now" at each call


def _without_clock(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _without_clock(v) for k, v in data.items() if k not in CLOCK_FIELDS}
    if isinstance(data, list):
        return [_without_clock(v) for v in data]
    return data


def test_remote_and_local_give_the_same_answers(state: State, server: Server) -> None:
    for command in READS:
        local = wms2(*command, "--json")
        remote = wms2(*command, "--json", *server.args("viewer"))
        assert local.code == remote.code == 0, (command, local.err, remote.err)
        assert _without_clock(local.json()) == _without_clock(remote.json()), command
    for command in TEXT:
        assert wms2(*command).out == wms2(*command, *server.args("viewer")).out, command


#: The requests of the ``state`` fixture and their statuses.
STATUSES = {"q_low": "queued", "q_high": "queued", "r_active": "active", "r_done": "completed", "r_held": "held",
            "r_new": "submitted"}
#: Commands refused in both modes, with the exit status of each (none of them changes the state, so one
#: state and one server serve them all).
REFUSED: list[tuple[list[str], int]] = [
    (["show", "nope"], 4), (["dag", "nodes", "nope"], 4), (["versions", "nope"], 4),
    (["dag", "nodes", "q_low"], 3), (["errors", "r_new"], 3), (["stop", "q_low", "--reason", "x"], 3),
    (["abort", "r_done", "--reason", "x"], 3), (["drain", "T2_NO_Such", "--reason", "x"], 4),
    (["drain", "not a site", "--reason", "x"], 2),
    (["ban", "lift", "999", "--reason", "x"], 4), (["priority", "q_low", "10000000", "--reason", "x"], 2),
    (["stop", "r_active", "--reason", ""], 2),
]


def test_errors_have_the_same_exit_codes(state: State, server: Server) -> None:
    for command, code in REFUSED:
        local = wms2(*command)
        remote = wms2(*command, *server.args("operator"))
        assert (local.code, remote.code) == (code, code), (command, local.err, remote.err)
        assert "error:" in local.err and "error:" in remote.err, command
        if command[:2] != ["dag", "nodes"] or command[2] == "nope":  # "no DAG yet" is decided by the client
            assert f"server answered {EXIT_STATUS[code]}" in remote.err, (command, remote.err)
    # nothing was changed by the refusals, in either mode
    local, remote = wms2("requests", "--json"), wms2("requests", "--json", *server.args("viewer"))
    assert _without_clock(local.json()) == _without_clock(remote.json())
    assert {r["name"]: r["status"] for r in local.json()} == STATUSES


def test_remote_actions_record_the_token_identity(state: State, server: Server) -> None:
    stopped = wms2("stop", "r_active", "--reason", "downtime", "--json", *server.args()).json()
    assert stopped["status"] == "stopping" and server.engine.removed[-1][2].endswith("downtime")
    audit = wms2("show", "r_active", "--json").json()["status_transitions"][-1]
    assert audit["by"] == "operator" and "downtime" in audit["reason"]
    assert wms2("priority", "q_low", "7000", "--reason", "rush", "--json", *server.args()).json()["priority"] == 7000
    assert [e["name"] for e in wms2("queue", "--json", *server.args()).json()["items"]] == ["q_low", "q_high"]
    drained = wms2("drain", "T2_XX_SiteA", "--reason", "downtime", "--json", *server.args()).json()
    assert drained["status"] == "draining" and drained["updated_by"] == "operator"
    assert wms2("enable", "T2_XX_SiteA", "--reason", "ok", "--json", *server.args()).json()["status"] == "enabled"
    ban = wms2("bans", "--json", *server.args()).json()[0]
    lifted = wms2("ban", "lift", str(ban["id"]), "--reason", "fixed", "--json", *server.args()).json()
    assert lifted["removed_by"] == "operator" and not lifted["active"]
    failed = wms2("fail", "q_high", "--reason", "bad", "--json", *server.args()).json()
    assert failed["status"] == "failed"
    restarted = wms2("restart", "q_high", "--reason", "retune", "--json", *server.args()).json()
    assert restarted["new_request"].startswith("q_high_v")
    released = wms2("release", "r_held", "--reason", "fixed", "--memory", "3000", "--json", *server.args()).json()
    assert released["status"] == "queued"
    assert wms2("show", "r_held", "--json").json()["overrides"]["memory_mb"] == 3000
    assert wms2("abort", "r_new", "--reason", "dup", "--json", *server.args()).json()["status"] == "aborted"


def test_roles_through_the_cli(state: State, server: Server) -> None:
    refused = wms2("stop", "r_active", "--reason", "x", *server.args("viewer"))
    assert refused.code == 3 and "403" in refused.err and "operator role" in refused.err
    assert wms2("show", "r_active", "--json").json()["status"] == "active"  # nothing changed
    assert wms2("drain", "T2_XX_SiteA", "--reason", "x", *server.args("alice")).code == 3
    unknown = wms2("requests", "--server", server.url, "--token", "wms2_not_a_token")
    assert unknown.code == 3 and "401" in unknown.err
    assert wms2("requests", "--server", server.url).code == 3  # no token at all


def test_environment_variables_select_remote_mode(state: State, server: Server) -> None:
    env = {"WMS2_SERVER": server.url, "WMS2_TOKEN": server.tokens["viewer"]}
    refused = wms2("stop", "r_active", "--reason", "x", env=env)
    assert refused.code == 3 and "403" in refused.err  # went to the server as the viewer
    assert [r["name"] for r in wms2("requests", "--status", "queued", "--json", env=env).json()] == ["q_high", "q_low"]


def test_remote_submit(state: State, server: Server, fixtures_dir: Any, tmp_path: Any) -> None:
    import json

    from tests.core.helpers import stepchain_doc

    path = tmp_path / "r_remote.json"
    path.write_text(json.dumps(stepchain_doc(fixtures_dir, "r_remote", Requestor="alice")))
    out = wms2("submit", str(path), "--json", *server.args("alice")).json()
    assert out == {"ok": True, "requests": [{"name": "r_remote", "created": True}]}
    again = wms2("submit", str(path), "--json", *server.args("alice")).json()
    assert again["requests"] == [{"name": "r_remote", "created": False}]
    bad = json.loads(path.read_text())
    bad["RequestName"] = "evil\nname"
    path.write_text(json.dumps(bad))
    rejected = wms2("submit", str(path), "--json", *server.args("alice"))
    assert rejected.code == 2 and json.loads(rejected.out)["errors"][0]["field"] == "RequestName"


def test_unreachable_server(state: State) -> None:
    out = wms2("requests", "--server", "http://127.0.0.1:9", "--token", "x")
    assert out.code == 5 and "cannot reach" in out.err
