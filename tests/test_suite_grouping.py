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


def test_shared_servers_are_grouped(request: pytest.FixtureRequest) -> None:
    """A test using the session Rucio server, or a module's browser, carries a group mark."""
    items = {item.nodeid.split("@", 1)[0]: item for item in request.session.items}
    rucio = items.get("tests/rucio/test_server.py::test_policy_package_accepts_cms_names")
    browser = items.get("tests/web/test_dashboard_browser.py::test_wide_monitor")
    if rucio is None or browser is None:
        pytest.skip("run without the whole suite")
    assert [m.args for m in rucio.iter_markers("xdist_group")] == [("rucio-server",)]
    assert [m.args for m in browser.iter_markers("xdist_group")] == [("tests/web/test_dashboard_browser.py",)]
