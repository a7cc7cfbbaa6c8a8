"""``wms2 serve``: one process with the REST API (uvicorn) and the Lifecycle Manager in its own thread.

The API never waits for the loop: endpoints run in uvicorn's thread pool, the lifecycle (planning,
DAG polling, file parsing) in ``wms2-lifecycle``; actions only ``wake()`` it.  The embedded default
listens on loopback; a non-loopback address is refused unless TLS or a trusted front-end proxy is
configured, so the service never runs open on a public interface.
"""

from __future__ import annotations

import gc
import ipaddress
import logging
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from sqlalchemy import select

from wms2.api.app import API_PREFIX, create_app
from wms2.api.auth import create_token
from wms2.config import Settings
from wms2.core.lifecycle import LifecycleManager
from wms2.core.owner import LifecycleOwner
from wms2.core.ownership import Lease, OwnerRefused
from wms2.core.service import build_lifecycle, init_home
from wms2.db.auth_tables import ApiTokenRow
from wms2.db.session import Database

log = logging.getLogger(__name__)

# The GIL switch interval (CPython default 5 ms).  While the lifecycle thread plans a 100,000-node round
# it is always ready to run; an API thread gives the GIL up at every SQLite step (one per row fetched)
# and waits up to a whole interval to get it back.  0.2 ms keeps a 50-row page from costing 50 x 5 ms;
# bench/api_latency.py measured the plan-time maximum going from 7 s (1 ms) to 1.3 s (0.2 ms).
GIL_SWITCH_INTERVAL_S = 0.0002
# Garbage-collector thresholds (CPython default 700, 10, 10).  A collection stops every thread; while a
# 100,000-node round is planned the default thresholds ran ~600 collections, full ones scanning the
# whole growing plan (up to 2 s under load, measured by bench/api_latency.py).  With these, 8
# collections, the longest 3 ms, and the plan ran 2.4x faster.  Reference counting still frees all
# acyclic garbage at once; young cycles are still collected every 50,000 allocations.
GC_THRESHOLDS = (50_000, 20, 100)
LIFECYCLE_JOIN_S = 30.0  # how long shutdown waits for a cycle in progress
TOKEN_FILE = "operator.token"
BOOTSTRAP_TOKEN_NAME = "operator"


class UnsafeListenAddress(ValueError):
    """A non-loopback listen address without TLS or a trusted proxy."""


def check_listen_address(settings: Settings) -> None:
    host = settings.api.host
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    tls = settings.api.tls_certfile is not None and settings.api.tls_keyfile is not None
    if not loopback and not tls and not settings.api.trusted_proxies:
        raise UnsafeListenAddress(
            f"api.host: refusing to listen on {host} without TLS (api.tls_certfile/api.tls_keyfile) or a trusted"
            " front-end proxy (api.trusted_proxies); the embedded default listens on 127.0.0.1 only")


def bootstrap_operator_token(settings: Settings, db: Database) -> str | None:
    """On a home without any live operator token, create one; return its secret (else None)."""
    with db.session() as session:
        live = session.scalar(select(ApiTokenRow.id).where(ApiTokenRow.role == "operator",
                                                            ApiTokenRow.revoked_at.is_(None)).limit(1))
        if live is not None:
            return None
        _, secret = create_token(session, BOOTSTRAP_TOKEN_NAME, "operator", by="wms2 serve")
    path = Path(settings.home) / TOKEN_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret + "\n")
    return secret


@dataclass
class Service:
    settings: Settings
    db: Database
    lifecycle: LifecycleManager
    stop: threading.Event
    owner: LifecycleOwner
    pool_started: bool = False  # this process started the local pool daemon: it stops it on the way out
    thread: threading.Thread | None = None
    closed: bool = False

    def start_lifecycle(self) -> None:
        """The lifecycle runs only while this process holds the lease; otherwise it stands by."""
        self.thread = threading.Thread(target=self._lifecycle_main, name="wms2-lifecycle", daemon=True)
        self.thread.start()

    def _lifecycle_main(self) -> None:
        try:
            self.owner.run(self.lifecycle, self.stop)
        except Exception:
            log.exception("lifecycle thread ended")

    def shutdown(self) -> None:
        """Stop the lifecycle (releasing the lease), the pool daemon this process started, the database.
        Idempotent."""
        if self.closed:
            return
        self.closed = True
        self.stop.set()
        self.lifecycle.wake()
        if self.thread is not None:
            self.thread.join(LIFECYCLE_JOIN_S)
            if self.thread.is_alive():
                log.warning("lifecycle cycle still running after %.0fs; exiting anyway", LIFECYCLE_JOIN_S)
        self.lifecycle.close()  # its helper processes (the status reader)
        _stop_started_pool(self.settings, self.pool_started)
        self.db.dispose()


def prepare(settings: Settings) -> tuple[Service, str | None]:
    """Home, database, token, pool daemon and lifecycle; nothing is listening yet."""
    check_listen_address(settings)
    db = init_home(settings)
    owner = LifecycleOwner(Lease(db, settings.ownership, command="serve"), settings.ownership, standby=True,
                           step_down=True)
    if owner.lease.single_process:  # SQLite: one process only; a second owner is refused at once
        current = owner.try_once()
        if current is not None:
            db.dispose()
            raise RuntimeError(str(OwnerRefused(current, single_process=True)))
    token = bootstrap_operator_token(settings, db)
    pool_started = False
    try:
        if settings.engine.kind == "local":
            from wms2.engines.local_engine import ensure_pool_running, pool_status

            pool_started = not pool_status(settings)["running"]
            ensure_pool_running(settings)  # a signal while it waits for the daemon: stopped below
        from wms2.core.wiring import build_workers

        lifecycle = build_lifecycle(settings, db, build_workers(settings, db))
    except BaseException:  # interrupted or failed while starting: stop what this process started
        _stop_started_pool(settings, pool_started)
        owner.release()
        db.dispose()
        raise
    lifecycle.ownership = owner
    return Service(settings, db, lifecycle, threading.Event(), owner, pool_started), token


def _stop_started_pool(settings: Settings, started: bool) -> None:
    if started:
        from wms2.engines.local_engine import stop_pool

        stop_pool(settings)


def uvicorn_config(service: Service) -> uvicorn.Config:
    api = service.settings.api
    app = create_app(service.settings, service.db, lifecycle=service.lifecycle)
    return uvicorn.Config(
        app, host=api.host, port=api.port, log_level=service.settings.log_level.lower(),
        # The peer address must be the real TCP peer: trusted proxies are checked by WMS2 itself.
        proxy_headers=False, server_header=False,
        ssl_certfile=str(api.tls_certfile) if api.tls_certfile else None,
        ssl_keyfile=str(api.tls_keyfile) if api.tls_keyfile else None,
        timeout_graceful_shutdown=int(LIFECYCLE_JOIN_S),
    )


def base_url(settings: Settings) -> str:
    scheme = "https" if settings.api.tls_certfile else "http"
    return f"{scheme}://{settings.api.host}:{settings.api.port}{API_PREFIX}"


def tune_runtime() -> None:
    """Interpreter settings for one process serving the API next to a planning lifecycle thread."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    gc.collect()
    gc.freeze()  # what start-up loaded is never garbage: keep it out of every later full collection
    gc.set_threshold(*GC_THRESHOLDS)


class _ExitRequest:
    """A stop asked for by a signal, kept so that it is never lost: an exception raised by a signal
    handler can land in a garbage-collector callback, where Python prints and ignores it (seen: a
    SIGTERM during start-up left `wms2 serve` running for good)."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.server: uvicorn.Server | None = None

    def request(self) -> bool:
        """Record the stop; True when a running server was told to exit (nothing more to do)."""
        self.requested.set()
        if self.server is not None:
            self.server.should_exit = True
            return True
        return False


EXIT = _ExitRequest()


def serve(service: Service) -> None:
    """Run until SIGINT/SIGTERM (uvicorn handles both), then stop the lifecycle and close the database."""
    try:
        server = uvicorn.Server(uvicorn_config(service))
        EXIT.server = server
        if EXIT.requested.is_set():  # a signal came during start-up: stop right after it
            server.should_exit = True
            return
        tune_runtime()
        service.start_lifecycle()
        server.run()
    finally:
        EXIT.server = None
        service.shutdown()
