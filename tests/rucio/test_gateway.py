"""The gateway's retry and error naming, without a server (the client is replaced by a callable)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rucio.common.exception import AccessDenied, DataIdentifierNotFound, RucioException, ServerConnectionException

from wms2.services.rucio_gateway import RucioCallError, RucioConfig, RucioGateway, RucioUnavailable


def _gateway(retries: int = 2) -> tuple[RucioGateway, list[float]]:
    waits: list[float] = []
    gw = RucioGateway(RucioConfig(url="http://rucio.invalid", retries=retries, retry_backoff_s=0.5), sleep=waits.append)
    gw._client = object()  # never built: every call below raises before touching it
    return gw, waits


def _raiser(exc: BaseException, calls: list[int]) -> Any:
    def fn(_client: Any) -> Any:
        calls.append(1)
        raise exc
    return fn


@pytest.mark.parametrize("exc", [ServerConnectionException("refused"),
                                 RucioException("Details: boom (http status code: 503)"),
                                 ConnectionError("reset by peer")])
def test_transient_is_retried_with_doubling_waits(exc: BaseException) -> None:
    gw, waits = _gateway(retries=2)
    calls: list[int] = []
    with pytest.raises(RucioUnavailable) as err:
        gw.call("add_replicas", "cms:/store/x.root at T2_XX_SiteA", _raiser(exc, calls))
    assert len(calls) == 3 and waits == [0.5, 1.0]
    text = str(err.value)
    assert text.startswith("Rucio add_replicas cms:/store/x.root at T2_XX_SiteA: unavailable at http://rucio.invalid")
    assert err.value.transient and err.value.call == "add_replicas"


@pytest.mark.parametrize(("exc", "name"), [(DataIdentifierNotFound("no such DID"), "DataIdentifierNotFound"),
                                           (AccessDenied("not allowed"), "AccessDenied"),
                                           (RucioException("no error information (http status code: 200)"),
                                            "RucioException")])
def test_permanent_is_raised_at_once(exc: BaseException, name: str) -> None:
    gw, waits = _gateway()
    calls: list[int] = []
    with pytest.raises(RucioCallError) as err:
        gw.call("get_did", "cms:/P/S/T#b", _raiser(exc, calls))
    assert len(calls) == 1 and waits == []
    assert str(err.value).startswith(f"Rucio get_did cms:/P/S/T#b: {name}")
    assert not err.value.transient and err.value.did == "cms:/P/S/T#b"


def test_malformed_answer() -> None:
    gw, _ = _gateway()
    with pytest.raises(RucioCallError, match=r"^Rucio list_files cms:/P/S/T#b: malformed answer from http://"):
        gw.call("list_files", "cms:/P/S/T#b", lambda _c: json.loads("{broken"))


def test_success_after_a_transient_failure() -> None:
    gw, waits = _gateway()
    answers: list[Any] = [ServerConnectionException("down"), "ok"]

    def fn(_client: Any) -> str:
        item = answers.pop(0)
        if isinstance(item, BaseException):
            raise item
        return str(item)

    assert gw.call("whoami", "-", fn) == "ok" and waits == [0.5]
