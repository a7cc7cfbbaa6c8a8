"""CMS names on the Rucio side: processing site (PSN) <-> storage element (RSE / PNN).

Convention (cms-formats.md §4.2): a Tier-0/1 site keeps its data on ``<site>_Disk`` and ``<site>_Tape``;
other tiers' storage element has the site's own name.  CRIC's ``data-processing`` table or the
``[catalog] site_rses`` setting override the convention per site.
"""

from __future__ import annotations

from collections.abc import Mapping

DISK_SUFFIX = "_Disk"
# Suffixes of CMS storage element names that are not part of the site name.
RSE_SUFFIXES = ("_Disk", "_Tape", "_Buffer", "_MSS", "_Export", "_Temp", "_Test")


def site_rse(site: str, overrides: Mapping[str, str] | None = None) -> str:
    """The disk RSE where ``site`` writes its outputs."""
    if overrides and site in overrides:
        return overrides[site]
    if site.startswith(("T0_", "T1_")):
        return f"{site}{DISK_SUFFIX}"
    return site


def rse_site(rse: str, overrides: Mapping[str, str] | None = None) -> str:
    """The processing site that reads ``rse`` (the reverse of :func:`site_rse`)."""
    if overrides:
        for site, name in overrides.items():
            if name == rse:
                return site
    for suffix in RSE_SUFFIXES:
        if rse.endswith(suffix):
            return rse[: -len(suffix)]
    return rse


def split_block(block: str) -> tuple[str, str]:
    """``/P/S/T#uuid`` -> (``/P/S/T``, ``uuid``); a ValueError names a malformed block."""
    dataset, sep, tail = block.partition("#")
    if not sep or not tail or not dataset.startswith("/"):
        raise ValueError(f"{block!r} is not a CMS block name (/Primary/Processed/TIER#uuid)")
    return dataset, tail
