"""``wms2 demo --data rucio``: the demo with data management in a real local Rucio server.

The server runs under ``<home>/rucio`` (started before the demo, stopped after it; its database stays, so
``wms2 dev rucio start --home <home>/rucio`` shows the result again).  The demo's input blocks are
registered in Rucio where the local catalog places them (so planning reads locality from Rucio), and
WMS2 runs with ``[catalog] backend = "cms"``.  At the end :meth:`RucioDemo.summary` lists, from Rucio,
every output container's blocks, replicas and rules.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from wms2.db.catalog_tables import CatalogBlockRow, CatalogDatasetRow, CatalogFileRow, CatalogReplicaRow
from wms2.db.session import Database
from wms2.db.tables import RequestRow
from wms2.devservices import rucio_dev
from wms2.services.outputs import OutputFile
from wms2.services.rucio_gateway import RucioConfig, RucioGateway
from wms2.services.rucio_outputs import RucioCatalogWriter

SUBDIR = "rucio"


def stop_previous(home: Path) -> None:
    """Stop a server left by an earlier demo in this home (before the home is wiped)."""
    server_home = home / SUBDIR
    if (server_home / rucio_dev.STATE_FILE).is_file():
        rucio_dev.stop(server_home)


@dataclass
class RucioDemo:
    state: rucio_dev.ServerState
    gateway: RucioGateway

    @classmethod
    def start(cls, home: Path) -> RucioDemo:
        state = rucio_dev.start(home / SUBDIR)
        gateway = RucioGateway(RucioConfig(url=state.url, account=state.account, username=state.account,
                                           password=state.password, client_config=state.client_config,
                                           scope=state.scope))
        return cls(state, gateway)

    def stop(self) -> None:
        rucio_dev.stop(Path(self.state.home))

    def settings_section(self, home: Path) -> dict[str, Any]:
        password_file = home / SUBDIR / "wms2-password"
        password_file.write_text(self.state.password)
        password_file.chmod(0o600)
        return {"backend": "cms", "rucio_url": self.state.url, "rucio_account": self.state.account,
                "rucio_password_file": str(password_file), "rucio_client_config": self.state.client_config,
                "rucio_scope": self.state.scope}

    def register_inputs(self, db: Database, dataset: str) -> int:
        """Register ``dataset``'s blocks and replicas (as the local catalog has them) in Rucio."""
        with db.session() as session:
            rows = session.execute(
                select(CatalogBlockRow.name, CatalogFileRow.lfn, CatalogFileRow.size, CatalogFileRow.checksum,
                       CatalogFileRow.events, CatalogReplicaRow.site)
                .join(CatalogDatasetRow, CatalogDatasetRow.id == CatalogBlockRow.dataset_id)
                .join(CatalogFileRow, CatalogFileRow.block_id == CatalogBlockRow.id)
                .join(CatalogReplicaRow, CatalogReplicaRow.file_id == CatalogFileRow.id)
                .where(CatalogDatasetRow.name == dataset, CatalogReplicaRow.is_tape.is_(False))
                .order_by(CatalogFileRow.lfn)).all()
            writer = RucioCatalogWriter(session, self.gateway)
            by_block: dict[str, list[OutputFile]] = {}
            for block, lfn, size, checksum, events, site in rows:
                by_block.setdefault(block, []).append(OutputFile(lfn=lfn, size=size, adler32=checksum or "00000001",
                                                                 events=events, site=site))
            for block, files in sorted(by_block.items()):
                writer.open_block(dataset, block)
                writer.register_files(dataset, block, files)
                writer.close_block(block)
        return sum(len(f) for f in by_block.values())

    def summary(self, datasets: list[str]) -> dict[str, Any]:
        """What Rucio holds for the demo's output datasets (listed from Rucio, not from WMS2)."""
        client = self.gateway.call("whoami", "-", lambda c: c)
        scope = self.state.scope
        out: dict[str, Any] = {"url": self.state.url, "account": self.state.account, "datasets": {}}
        for dataset in datasets:
            blocks = []
            for did in client.list_content(scope, dataset):
                name = did["name"]
                files = [f["name"] for f in client.list_files(scope, name)]
                rses: Counter[str] = Counter()
                for row in client.list_replicas([{"scope": scope, "name": n} for n in files], all_states=True):
                    rses.update(f"{rse} {state}" for rse, state in row["states"].items())
                rules = [{"rse_expression": r["rse_expression"], "state": r["state"], "grouping": r["grouping"],
                          "activity": r["activity"], "locked": r["locked"], "comment": r["comments"]}
                         for r in client.list_did_rules(scope, name)]
                blocks.append({"block": name, "open": client.get_did(scope, name)["open"], "files": len(files),
                               "replicas": dict(sorted(rses.items())), "rules": rules})
            out["datasets"][dataset] = blocks
        return out

    def summary_of(self, db: Database, request_names: list[str]) -> dict[str, Any]:
        """:meth:`summary` of the requests' output datasets."""
        with db.session() as session:
            outputs = sorted({d for r in session.scalars(select(RequestRow).where(RequestRow.name.in_(request_names)))
                              for d in r.output_datasets})
        return self.summary(outputs)

    @staticmethod
    def all_closed(summary: dict[str, Any]) -> bool:
        blocks = [b for bs in summary["datasets"].values() for b in bs]
        return bool(blocks) and all(not b["open"] for b in blocks)

