"""The ``wms2`` command line (typer + rich).  Each command group lives in its own module and
registers itself here."""

from __future__ import annotations

import typer

from wms2.cli import catalog, dag, demo, dev, fjr, operate, plan, pool, requests, serve, sites, status, validate, watch
from wms2.cli.common import global_options

app = typer.Typer(
    name="wms2",
    help="WMS2: workload management for CMS central production.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

app.callback()(global_options)
for _module in (requests, dag, pool, plan, catalog, fjr, demo, operate, sites, watch, serve, dev, status, validate):
    _module.register(app)


def main() -> None:
    app()
