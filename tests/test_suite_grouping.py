"""The suite's own scheduling: ``make test`` runs ``--dist loadgroup``, and tests sharing a server are
grouped on one worker (tests/conftest.py).  pytest 9.2 with xdist 3.8 dropped the groups without a word
(pytest-xdist issue 1386): every worker then started its own Rucio and ReqMgr2 servers."""

from __future__ import annotations

import pytest


@pytest.mark.xdist_group("suite-grouping")
def test_xdist_groups_reach_the_scheduler(request: pytest.FixtureRequest) -> None:
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("not run by an xdist worker under --dist loadgroup")
    assert request.node.nodeid.endswith("@suite-grouping"), request.node.nodeid


def test_each_shared_server_is_set_up_on_one_worker(request: pytest.FixtureRequest) -> None:
    """Every test using the session Rucio or ReqMgr2 server, the validation data sets, or a module's
    browser carries the same single xdist group as the other tests using it."""
    items = request.session.items
    if not any(i.nodeid.startswith("tests/rucio/") for i in items):
        pytest.skip("run without the whole suite")
    users: dict[str, set[tuple[str, ...]]] = {}
    for item in items:
        groups = tuple(sorted(str(m.args[0]) for m in item.iter_markers("xdist_group")))
        names = set(getattr(item, "fixturenames", ()))
        for shared in ("rucio_server", "reqmgr2", "sets"):
            if shared in names:
                users.setdefault(shared, set()).add(groups)
        if "browser" in names:
            users.setdefault(item.nodeid.split("::", 1)[0], set()).add(groups)
    assert {"rucio_server", "reqmgr2", "sets", "tests/web/test_dashboard_browser.py"} <= set(users)
    for shared, groups in users.items():
        assert len(groups) == 1 and len(next(iter(groups))) == 1, (shared, groups)
