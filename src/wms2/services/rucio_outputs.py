"""Output registration in Rucio: blocks as Rucio datasets, files as replicas, and the design's rules.

CMS mapping (cms-formats.md §4.2): a CMS dataset ``/Prim/Proc/TIER`` is a Rucio CONTAINER, a block
``/Prim/Proc/TIER#uuid`` a Rucio DATASET attached to it, a file its LFN, registered as a replica on the
disk RSE of the site that wrote it (bytes, adler32, events) and attached to its block.  Closing a block
closes the Rucio dataset.

Exactly once: every step is looked up in ``rucio_steps`` first (done: skipped without a call), then
Rucio is asked what it already holds (an existing DID, replica, attachment or rule is taken as done,
never added twice), then the step is recorded in the caller's transaction.  See
:mod:`wms2.services.rucio_steps` for the crash window and its fault-injection point.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from wms2.services.outputs import OutputFile, RegistrationError, RuleRequest
from wms2.services.rucio_gateway import RucioCallError, RucioGateway
from wms2.services.rucio_names import site_rse, split_block
from wms2.services.rucio_steps import Step, StepLog, fault_point

# Rucio's ``rucio.common.exception`` class names that mean "it is already there".
_ALREADY = frozenset({"DataIdentifierAlreadyExists", "Duplicate", "DuplicateContent", "FileAlreadyExists",
                      "FileReplicaAlreadyExists", "DuplicateRule"})
LIST_CHUNK = 500  # DIDs per list/attach call (Rucio handles thousands; keeps request bodies small)


def _already(exc: RucioCallError) -> bool:
    return type(exc.__cause__).__name__ in _ALREADY


@dataclass(frozen=True)
class RuleOptions:
    """The options an operator sets on WMS2's rules (``[catalog]`` settings)."""

    activity: str = "Production Output"
    consolidation_activity: str = "Data Consolidation"
    source_lifetime_s: int | None = 14 * 86400  # source protection lasts until archival has long finished
    archival_grouping: str = "DATASET"  # a block lands whole on one tape RSE
    consolidation_grouping: str = "DATASET"
    source_grouping: str = "NONE"
    priority: int = 3  # Rucio/WMCore default (SubscriptionPriority normal)
    site_rses: Mapping[str, str] = field(default_factory=dict)


class RucioCatalogWriter:
    """:class:`~wms2.services.outputs.CatalogWriter` on Rucio (blocks, replicas, attachments)."""

    def __init__(self, session: Session, gateway: RucioGateway, options: RuleOptions | None = None) -> None:
        self.gw = gateway
        self.scope = gateway.scope
        self.steps = StepLog(session)
        self.options = options or RuleOptions()

    # -- DIDs ------------------------------------------------------------------------------------
    def _create(self, kind: str, name: str, method: str) -> None:
        step = Step(kind, self.scope, name)
        if self.steps.is_done(step):
            return
        try:
            self.gw.call(method, f"{self.scope}:{name}", lambda c: getattr(c, method)(self.scope, name))
        except RucioCallError as exc:
            if not _already(exc):
                raise
        fault_point(kind)
        self.steps.mark([step])

    def open_block(self, dataset: str, block: str) -> None:
        if split_block(block)[0] != dataset:
            raise RegistrationError(f"block {block} does not belong to dataset {dataset}")
        self._create("container", dataset, "add_container")
        self._create("block", block, "add_dataset")
        step = Step("attach_block", self.scope, block, dataset)
        if self.steps.is_done(step):
            return
        did = f"{self.scope}:{dataset}"
        content = self.gw.call("list_content", did, lambda c: {d["name"] for d in c.list_content(self.scope, dataset)})
        if block not in content:
            try:
                self.gw.call("attach_dids", did, lambda c: c.attach_dids(
                    self.scope, dataset, [{"scope": self.scope, "name": block}]))
            except RucioCallError as exc:
                if not _already(exc):
                    raise
        fault_point("attach_block")
        self.steps.mark([step])

    # -- files -----------------------------------------------------------------------------------
    def _rse_of(self, f: OutputFile) -> str:
        if not f.site:
            raise RegistrationError(f"{f.lfn}: no site recorded for the file, cannot choose its RSE")
        return site_rse(f.site, self.options.site_rses)

    def _existing_replicas(self, lfns: list[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(lfns), LIST_CHUNK):
            chunk = lfns[start:start + LIST_CHUNK]
            dids = [{"scope": self.scope, "name": n} for n in chunk]
            rows = self.gw.call("list_replicas", f"{self.scope}:{chunk[0]} (+{len(chunk) - 1})",
                                lambda c, d=dids: list(c.list_replicas(d, all_states=True)))
            out.update({r["name"]: r for r in rows})
        return out

    def _add_replicas(self, files: list[OutputFile]) -> None:
        steps = {f.lfn: Step("replica", self.scope, f.lfn, self._rse_of(f)) for f in files}
        done = self.steps.done(steps.values())
        todo = [f for f in files if steps[f.lfn].key not in done]
        if not todo:
            return
        existing = self._existing_replicas([f.lfn for f in todo])
        by_rse: dict[str, list[OutputFile]] = {}
        for f in todo:
            rse = steps[f.lfn].target
            known = existing.get(f.lfn)
            if known is not None:
                if int(known.get("bytes") or -1) != f.size or (known.get("adler32") or "").lower() != f.adler32.lower():
                    raise RucioCallError(
                        f"Rucio list_replicas {self.scope}:{f.lfn}: already registered with bytes={known.get('bytes')}"
                        f" adler32={known.get('adler32')}, WMS2 has bytes={f.size} adler32={f.adler32}",
                        call="list_replicas", did=f"{self.scope}:{f.lfn}", transient=False)
                if rse in (known.get("states") or known.get("rses") or {}):
                    continue
            by_rse.setdefault(rse, []).append(f)
        for rse, group in sorted(by_rse.items()):
            payload = [{"scope": self.scope, "name": f.lfn, "bytes": f.size, "adler32": f.adler32,
                        "meta": {"events": f.events}} for f in group]
            for start in range(0, len(payload), LIST_CHUNK):
                chunk = payload[start:start + LIST_CHUNK]
                self.gw.call("add_replicas", f"{self.scope}:{chunk[0]['name']} at {rse}",
                             lambda c, r=rse, p=chunk: c.add_replicas(rse=r, files=p))
                fault_point("replica")
        self.steps.mark([steps[f.lfn] for f in todo])

    def _attach_files(self, block: str, files: list[OutputFile]) -> int:
        steps = {f.lfn: Step("attach_file", self.scope, f.lfn, block) for f in files}
        done = self.steps.done(steps.values())
        todo = [f for f in files if steps[f.lfn].key not in done]
        if not todo:
            return 0
        did = f"{self.scope}:{block}"
        present = self.gw.call("list_files", did, lambda c: {f["name"] for f in c.list_files(self.scope, block)})
        missing = [f.lfn for f in todo if f.lfn not in present]
        for start in range(0, len(missing), LIST_CHUNK):
            chunk = [{"scope": self.scope, "name": n} for n in missing[start:start + LIST_CHUNK]]
            try:
                self.gw.call("attach_dids", did, lambda c, d=chunk: c.attach_dids(self.scope, block, d))
            except RucioCallError as exc:
                if not _already(exc):
                    raise
            fault_point("attach_file")
        self.steps.mark([steps[f.lfn] for f in todo])
        return len(missing)

    def register_files(self, dataset: str, block: str, files: Sequence[OutputFile]) -> int:
        unique = list({f.lfn: f for f in files}.values())
        if not unique:
            return 0
        self._add_replicas(unique)
        return self._attach_files(block, unique)

    def close_block(self, block: str) -> None:
        step = Step("close", self.scope, block)
        if self.steps.is_done(step):
            return
        did = f"{self.scope}:{block}"
        info = self.gw.call("get_did", did, lambda c: c.get_did(self.scope, block))
        if info.get("open", True):
            self.gw.call("close", did, lambda c: c.close(self.scope, block))
        fault_point("close")
        self.steps.mark([step])

    def invalidate_block(self, block: str) -> int:
        """Rucio keeps no validity flag (that is the file catalog's, DBS's); the block's rules are
        deleted by the Output Manager, after which Rucio may delete the replicas.  Returns 0."""
        return 0


class RucioRuleService:
    """:class:`~wms2.services.outputs.RuleService` on Rucio replication rules."""

    def __init__(self, session: Session, gateway: RucioGateway, options: RuleOptions | None = None) -> None:
        self.gw = gateway
        self.scope = gateway.scope
        self.steps = StepLog(session)
        self.options = options or RuleOptions()

    def _rule_args(self, r: RuleRequest) -> tuple[list[str], str, dict[str, Any]]:
        """(DIDs, RSE expression, options) for a WMS2 rule request."""
        o = self.options
        comment = r.comment[:250]
        if r.kind == "source":
            # ``r.rse_expression`` is the site that wrote the files; protect them on its disk RSE.
            return (list(r.files), site_rse(r.rse_expression, o.site_rses),
                    {"grouping": o.source_grouping, "lifetime": o.source_lifetime_s, "activity": o.activity,
                     "comment": comment, "priority": o.priority})
        if r.kind == "archival":
            return ([r.did], r.rse_expression, {"grouping": o.archival_grouping, "lifetime": None,
                                                "activity": o.activity, "comment": comment, "priority": o.priority})
        if r.kind == "consolidation":
            return ([r.did], r.rse_expression, {"grouping": o.consolidation_grouping, "lifetime": None,
                                                "activity": o.consolidation_activity, "comment": comment,
                                                "priority": o.priority})
        raise RegistrationError(f"unknown rule kind {r.kind!r} for {r.did}")

    def _find_rule(self, name: str, rse_expression: str) -> str | None:
        did = f"{self.scope}:{name}"
        rules = self.gw.call("list_did_rules", did, lambda c: list(c.list_did_rules(self.scope, name)))
        account = self.gw.config.account
        for rule in rules:
            if rule.get("rse_expression") == rse_expression and rule.get("account") == account:
                return str(rule["id"])
        return None

    def _one(self, name: str, rse_expression: str, copies: int, opts: dict[str, Any]) -> str:
        step = Step("rule", self.scope, name, rse_expression)
        done = self.steps.done([step])
        if done.get(step.key):
            return str(done[step.key])
        rule_id = self._find_rule(name, rse_expression)
        if rule_id is None:
            did = f"{self.scope}:{name}"
            try:
                ids = self.gw.call("add_replication_rule", f"{did} -> {rse_expression}",
                                   lambda c: c.add_replication_rule(
                                       dids=[{"scope": self.scope, "name": name}], copies=copies,
                                       rse_expression=rse_expression, **opts))
                rule_id = str(ids[0])
            except RucioCallError as exc:
                if not _already(exc):
                    raise
                rule_id = self._find_rule(name, rse_expression)
                if rule_id is None:
                    raise
        fault_point("rule")
        self.steps.mark([step], result=rule_id)
        return rule_id

    def add_rule(self, did: str, rse_expression: str, kind: str, comment: str = "", copies: int = 1) -> str:
        return self.add_rules([RuleRequest(did, rse_expression, kind, comment, copies)])[0]

    def add_rules(self, requests: Sequence[RuleRequest]) -> list[str]:
        out: list[str] = []
        for r in requests:
            dids, expression, opts = self._rule_args(r)
            out.append(",".join(self._one(name, expression, r.copies, opts) for name in dids))
        return out

    def delete_rule(self, rule_id: str) -> None:
        """Delete the rule(s) (a source protection holds one id per file, comma-separated); a locked
        rule (Rucio locks tape rules itself) is unlocked first; an already deleted one is done."""
        for one in [i for i in rule_id.split(",") if i]:
            step = Step("delete_rule", self.scope, one)
            if self.steps.is_done(step):
                continue
            try:
                rule = self.gw.call("get_replication_rule", one, lambda c, i=one: c.get_replication_rule(i))
                if rule.get("locked"):
                    self.gw.call("update_replication_rule", one,
                                 lambda c, i=one: c.update_replication_rule(i, {"locked": False}))
                self.gw.call("delete_replication_rule", one, lambda c, i=one: c.delete_replication_rule(i))
            except RucioCallError as exc:
                if type(exc.__cause__).__name__ != "RuleNotFound":
                    raise
            fault_point("delete_rule")
            self.steps.mark([step])
