"""The ``wms2`` command line (typer + rich).  Each command group lives in its own module and
registers itself here."""

from __future__ import annotations

import typer

from wms2.cli import catalog, dag, demo, fjr, operate, plan, pool, requests, serve, sites, watch

app = typer.Typer(
    name="wms2",
    help="WMS2: workload management for CMS central production.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

for _module in (requests, dag, pool, plan, catalog, fjr, demo, operate, sites, watch, serve):
    _module.register(app)


def main() -> None:
    app()
