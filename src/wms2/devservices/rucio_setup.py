"""Provision a fresh development Rucio server through the real client (as an operator would).

The ``wms2`` service account (userpass identity, admin attribute), the ``cms`` scope, one RSE per
local site with a POSIX ``file`` protocol on a directory under the server home, the RSE attributes
CMS expressions use (``cms_type``, ``tier``, ``rse_type`` is Rucio's own, ``dm_weight``, ``ddm_quota``)
and an account limit per RSE.  Every step tolerates "already exists", so a restart re-runs it safely.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rucio.common.exception import Duplicate, RSEProtocolPriorityError

if TYPE_CHECKING:
    from wms2.devservices.rucio_dev import ServerState

POSIX_IMPL = "rucio.rse.protocols.posix.Default"
DM_WEIGHT = 1  # equal weights: the rule engine picks any matching RSE
DDM_QUOTA_BYTES = 10**15


def _ignore_duplicate(fn: Callable[[], Any]) -> None:
    try:
        fn()
    except (Duplicate, RSEProtocolPriorityError):
        pass
    except Exception as exc:  # Rucio raises several "already there" classes for attributes/identities
        if "already" not in str(exc).lower() and "duplicate" not in type(exc).__name__.lower():
            raise


def _root_client(state: ServerState) -> Any:
    from rucio.client import Client

    from wms2.devservices.rucio_dev import ROOT_IDENTITY

    return Client(rucio_host=state.url, auth_host=state.url, account="root", auth_type="userpass",
                  creds={"username": ROOT_IDENTITY, "password": state.root_password}, user_agent="wms2-dev")


def provision(state: ServerState, storage_root: Path) -> None:
    client = _root_client(state)
    acct = state.account
    _ignore_duplicate(lambda: client.add_account(acct, "SERVICE", f"{acct}@localhost"))
    _ignore_duplicate(lambda: client.add_identity(acct, acct, "USERPASS", f"{acct}@localhost", default=True,
                                                  password=state.password))
    _ignore_duplicate(lambda: client.add_account_attribute(acct, "admin", "True"))
    _ignore_duplicate(lambda: client.add_scope(acct, state.scope))
    for rse, rse_type in sorted(state.rses.items()):
        directory = storage_root / rse
        directory.mkdir(parents=True, exist_ok=True)
        _ignore_duplicate(lambda r=rse, t=rse_type: client.add_rse(r, rse_type=t, deterministic=True))
        for key, value in (("cms_type", "real"), ("tier", rse[1]), ("dm_weight", DM_WEIGHT),
                           ("ddm_quota", DDM_QUOTA_BYTES), ("lfn2pfn_algorithm", "wms2")):
            _ignore_duplicate(lambda r=rse, k=key, v=value: client.add_rse_attribute(r, k, v))
        protocol = {"scheme": "file", "hostname": "localhost", "port": 0, "prefix": f"{directory}/",
                    "impl": POSIX_IMPL,
                    "domains": {"lan": {"read": 1, "write": 1, "delete": 1},
                                "wan": {"read": 1, "write": 1, "delete": 1, "third_party_copy_read": 1,
                                        "third_party_copy_write": 1}}}
        existing = [p for p in client.get_protocols(rse) if p.get("scheme") == "file"] if _has_protocols(
            client, rse) else []
        if not existing:
            client.add_protocol(rse, protocol)
        client.set_local_account_limit(acct, rse, DDM_QUOTA_BYTES)


def _has_protocols(client: Any, rse: str) -> bool:
    try:
        client.get_protocols(rse)
    except Exception as exc:  # RSEProtocolNotSupported when none is defined yet
        if type(exc).__name__ == "RSEProtocolNotSupported":
            return False
        raise
    return True
