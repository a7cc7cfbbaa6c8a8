"""`wms2 dev ...`: development servers the project runs itself (a real Rucio server, ...).

Other modules attach their own sub-groups to :data:`dev_app` (for example
``dev_app.add_typer(reqmgr2_app, name="reqmgr2")``); this module registers ``dev`` on the main app.
"""

from __future__ import annotations

import typer

dev_app = typer.Typer(help="Development servers started by the project itself (for tests and trials).",
                      no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Attach ``wms2 dev`` (with every sub-group added to :data:`dev_app`) to the main app."""
    from wms2.cli import dev_reqmgr2, dev_rucio

    dev_rucio.attach(dev_app)
    dev_reqmgr2.attach(dev_app)
    app.add_typer(dev_app, name="dev")
