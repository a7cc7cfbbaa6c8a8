"""A value ending in a newline must never pass a name check.

Python's ``$`` also matches just before a final ``"\\n"``, so ``re.match(r"^...$", "T2_XX_A\\n")`` succeeds;
such a value would start a new line in a DAG or submit file.  The checks anchor with ``\\Z`` instead.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from wms2.domain import safety
from wms2.planning.render import quoting
from wms2.planning.round import PlanningError

GOOD: list[tuple[Callable[[object, str], str], str]] = [
    (quoting.name, "Run2024_A-v1"),
    (quoting.site, "T2_XX_SiteA"),
    (quoting.node, "proc_000001"),
    (quoting.filename, "mg_000000/group.dag"),
    (quoting.dataset, "/Prim/Proc-v1/AODSIM"),
    (quoting.lfn_base, "/store/mc"),
    (quoting.lfn, "/store/mc/a/b.root"),
    (quoting.classad_string, "a comment"),
]


@pytest.mark.parametrize(("check", "value"), GOOD, ids=[c.__name__ for c, _ in GOOD])
def test_render_checks_refuse_a_trailing_newline(check: Callable[[object, str], str], value: str) -> None:
    assert check(value, "field").strip('"') == value
    with pytest.raises(PlanningError, match="field"):
        check(value + "\n", "field")


@pytest.mark.parametrize(
    ("pattern", "value"),
    [
        (safety.NAME_RE, "name"),
        (safety.SITE_RE, "T1_US_FNAL"),
        (safety.DATASET_RE, "/A/B-v1/RAW"),
        (safety.LFN_BASE_RE, "/store/data"),
        (safety.PROCESSING_STRING_RE, "PS"),
        (safety.ACQ_ERA_RE, "Era"),
        (safety.CMSSW_RE, "CMSSW_14_0_0"),
        (safety.SCRAM_ARCH_RE, "el9_amd64_gcc12"),
        (safety.TIER_RE, "AODSIM"),
        (safety.LFN_RE, "/store/data/x.root"),
    ],
)
def test_safety_patterns_refuse_a_trailing_newline(pattern: object, value: str) -> None:
    import re

    assert isinstance(pattern, re.Pattern)
    assert pattern.match(value)
    assert not pattern.match(value + "\n")
