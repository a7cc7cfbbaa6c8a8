"""Issue 15: in one process, the lifecycle lets the API's requests in flight finish first."""

from __future__ import annotations

from tests.api.conftest import Api


def test_requests_are_counted_in_flight_and_the_lifecycle_sees_them(api: Api) -> None:
    foreground = api.client.app.state.ctx.foreground  # type: ignore[attr-defined]
    assert api.lifecycle.foreground is foreground
    assert api.get("/requests").status_code == 200
    assert api.get("/no-such-route").status_code == 404
    assert foreground.in_flight == 0  # every request ended, answered or not
    api.cycle()  # a cycle with no request in flight never waits
    assert foreground.waited_total_s == 0.0
