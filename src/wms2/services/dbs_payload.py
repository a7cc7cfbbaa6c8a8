"""The DBS ``/bulkblocks`` payload of one WMS2 output block (cms-formats.md §3.3), and where its
dataset-level facts come from.

:class:`BlockMeta` holds what DBS needs beyond the files: primary dataset and its type, processed
dataset, tier, acquisition era, processing version, the output module configuration (release, PSet hash,
global tag, module label), physics group, access type, the parent dataset.  :func:`block_meta` reads them
from the WMS2 request that writes the dataset (the request row's validated spec); the names follow the
CMS convention ``/<Primary>/<AcqEra>-<ProcString>-v<N>/<TIER>``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wms2.db.tables import ProcessingBlockRow, RequestRow, WorkflowRow
from wms2.domain.request import RequestSpec, StepConfig
from wms2.services.outputs import RegistrationError

APP_NAME = "cmsRun"  # DBS app_name of CMSSW outputs (WMAgent's value)
FILE_TYPE = "EDM"  # DBS file_type of CMSSW ROOT outputs
# DBS check_sum is the POSIX cksum, which WMS2's stage-out does not compute (it computes adler32); "-1" is
# DBS's own "not set" value (dbs3-client insertFiles: check_sum default '-1').
CHECK_SUM_UNSET = "-1"
UNKNOWN_GLOBAL_TAG = "UNKNOWN"  # a step without a global tag (generator-only steps); matches the lexicon
_PROCESSED = re.compile(r"^(?P<era>[A-Za-z][A-Za-z0-9_]*)-(?:.*-)?v(?P<version>[0-9]+)$")


@dataclass(frozen=True)
class BlockMeta:
    """Dataset-level facts of a DBS bulk block insertion."""

    dataset: str
    primary_ds_type: str
    acquisition_era: str
    processing_version: int
    release_version: str
    pset_hash: str
    global_tag: str
    output_module_label: str
    access_type: str = "PRODUCTION"
    physics_group: str = "NoGroup"
    prep_id: str | None = None
    create_by: str = "wms2"
    parent_dataset: str | None = None
    app_name: str = APP_NAME

    @property
    def parts(self) -> tuple[str, str, str]:
        _, primary, processed, tier = self.dataset.split("/")
        return primary, processed, tier

    def config(self) -> dict[str, str]:
        return {"release_version": self.release_version, "pset_hash": self.pset_hash, "app_name": self.app_name,
                "output_module_label": self.output_module_label, "global_tag": self.global_tag}


@dataclass(frozen=True)
class BufferedFile:
    """One file waiting for its block's insertion (a ``dbs_buffer_files`` record)."""

    lfn: str
    size: int
    adler32: str
    events: int
    lumis: dict[int, list[int]]
    parents: tuple[str, ...] = ()
    site: str | None = None
    lumi_events: dict[int, dict[int, int]] = field(default_factory=dict)  # run -> lumi -> events, when known

    def record(self) -> dict[str, Any]:
        return {"size": self.size, "adler32": self.adler32, "events": self.events,
                "lumis": {str(r): sorted(set(ls)) for r, ls in self.lumis.items()},
                "lumi_events": {str(r): {str(ls): n for ls, n in c.items()} for r, c in self.lumi_events.items()},
                "parents": list(self.parents), "site": self.site}

    @classmethod
    def from_record(cls, lfn: str, rec: dict[str, Any]) -> BufferedFile:
        return cls(lfn=lfn, size=int(rec["size"]), adler32=str(rec["adler32"]), events=int(rec["events"]),
                   lumis={int(r): [int(x) for x in ls] for r, ls in rec.get("lumis", {}).items()},
                   parents=tuple(rec.get("parents") or ()), site=rec.get("site"),
                   lumi_events={int(r): {int(ls): int(n) for ls, n in c.items()}
                                for r, c in (rec.get("lumi_events") or {}).items()})

    def has_lumi_counts(self) -> bool:
        """Every lumi has a count, and the counts add up to the file's events."""
        counts = [self.lumi_events.get(r, {}).get(ls) for r, lumis in self.lumis.items() for ls in set(lumis)]
        return bool(counts) and None not in counts and sum(c or 0 for c in counts) == self.events


def origin_site(files: Sequence[BufferedFile]) -> str:
    """The site that wrote most of the block's files (ties: the first by name)."""
    counts = Counter(f.site for f in files if f.site)
    if not counts:
        raise RegistrationError(f"{files[0].lfn if files else 'block'}: no site recorded for the block's files")
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]


def bulkblock_payload(meta: BlockMeta, block: str, files: Sequence[BufferedFile], now: int) -> dict[str, Any]:
    """The ``insertBulkBlock`` document of ``block`` (closed, as WMAgent uploads it).  Lumis carry their
    event counts only when every file of the block has complete, consistent ones (DBS takes counts for all
    lumis of a block or for none)."""
    primary, processed, tier = meta.parts
    ordered = sorted(files, key=lambda f: f.lfn)
    counted = all(f.has_lumi_counts() for f in ordered)
    conf = meta.config()
    dataset: dict[str, Any] = {
        "dataset": meta.dataset, "processed_ds_name": processed, "data_tier_name": tier,
        "dataset_access_type": meta.access_type, "physics_group_name": meta.physics_group,
        "xtcrosssection": None, "create_by": meta.create_by, "creation_date": now,
        "last_modified_by": meta.create_by, "last_modification_date": now}
    if meta.prep_id:
        dataset["prep_id"] = meta.prep_id
    parents = sorted({(f.lfn, p) for f in ordered for p in f.parents})
    return {
        "dataset_conf_list": [conf],
        "file_conf_list": [{"lfn": f.lfn, **conf} for f in ordered],
        "files": [{
            "logical_file_name": f.lfn, "file_size": f.size, "event_count": f.events,
            "check_sum": CHECK_SUM_UNSET, "adler32": f.adler32.lower(), "file_type": FILE_TYPE,
            "last_modified_by": meta.create_by, "last_modification_date": now, "auto_cross_section": 0.0,
            "file_lumi_list": [{"run_num": run, "lumi_section_num": lumi,
                                **({"event_count": f.lumi_events[run][lumi]} if counted else {})}
                               for run in sorted(f.lumis) for lumi in sorted(set(f.lumis[run]))],
        } for f in ordered],
        "file_parent_list": [{"logical_file_name": c, "parent_logical_file_name": p} for c, p in parents],
        "block_parent_list": [],
        "dataset_parent_list": [meta.parent_dataset] if parents and meta.parent_dataset else [],
        "processing_era": {"processing_version": meta.processing_version, "create_by": meta.create_by,
                           "description": ""},
        "acquisition_era": {"acquisition_era_name": meta.acquisition_era, "start_date": now},
        "primds": {"primary_ds_name": primary, "primary_ds_type": meta.primary_ds_type,
                   "create_by": meta.create_by, "creation_date": now},
        "dataset": dataset,
        "block": {"block_name": block, "origin_site_name": origin_site(ordered), "open_for_writing": 0,
                  "block_size": sum(f.size for f in ordered), "file_count": len(ordered),
                  "create_by": meta.create_by, "creation_date": now},
    }


# -- the request behind a dataset ---------------------------------------------------------------------
@dataclass(frozen=True)
class MetaDefaults:
    """The ``[catalog]`` settings that fill what a request does not say."""

    access_type: str = "PRODUCTION"
    physics_group: str = "NoGroup"
    primary_ds_type: str = "mc"
    create_by: str = "wms2"


def _spec_for(session: Session, dataset: str) -> RequestSpec:
    row = session.execute(
        select(RequestRow).join(WorkflowRow, WorkflowRow.request_id == RequestRow.id)
        .join(ProcessingBlockRow, ProcessingBlockRow.workflow_id == WorkflowRow.id)
        .where(ProcessingBlockRow.dataset == dataset).order_by(RequestRow.id.desc()).limit(1)).scalar()
    if row is None:
        raise RegistrationError(f"DBS: no WMS2 request writes {dataset}: its DBS metadata is unknown")
    spec = RequestSpec.model_validate(row.spec)
    return spec if spec.name == row.name else spec.model_copy(update={"name": row.name})


def _module_label(spec: RequestSpec, step: StepConfig, dataset: str) -> str:
    """The output module of ``dataset`` as the manifest names it (``<TIER>output``, numbered when a step
    writes the same tier twice)."""
    used: list[str] = []
    for out in spec.output_datasets:
        if out.step != step.name:
            continue
        base, n = f"{out.tier.replace('-', '')}output", 1
        label = base
        while label in used:
            n += 1
            label = f"{base}{n}"
        used.append(label)
        if out.name == dataset:
            return label
    raise RegistrationError(f"DBS: {dataset} is not an output of step {step.name} of {spec.name}")


def block_meta(session: Session, dataset: str, defaults: MetaDefaults) -> BlockMeta:
    """The DBS facts of ``dataset`` from the WMS2 request that writes it."""
    spec = _spec_for(session, dataset)
    out = next((o for o in spec.output_datasets if o.name == dataset), None)
    step = next((s for s in spec.steps if out is not None and s.name == out.step), None)
    if out is None or step is None:
        raise RegistrationError(f"DBS: {dataset} is not an output dataset of {spec.name}")
    processed = dataset.split("/")[2]
    m = _PROCESSED.match(processed)
    if m is None:
        raise RegistrationError(f"DBS: processed dataset {processed} of {dataset} is not <AcqEra>-...-v<N>")
    if not step.cmssw_version:
        raise RegistrationError(f"DBS: step {step.name} of {spec.name} has no CMSSW release (release_version)")
    pset = step.config_cache_id or hashlib.sha1(
        json.dumps(step.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
    return BlockMeta(
        dataset=dataset, primary_ds_type=defaults.primary_ds_type, acquisition_era=m["era"],
        processing_version=int(m["version"]), release_version=step.cmssw_version, pset_hash=pset,
        global_tag=step.global_tag or UNKNOWN_GLOBAL_TAG, output_module_label=_module_label(spec, step, dataset),
        access_type=defaults.access_type, physics_group=defaults.physics_group, prep_id=spec.prep_id,
        create_by=defaults.create_by, parent_dataset=spec.input_dataset)
