"""The failure classification of cms-formats.md §9 (the POST script's table).  First match wins."""

from __future__ import annotations

import re
from functools import cache
from typing import NamedTuple

PERMANENT_CODES = frozenset(
    {70, 73, 7000, 7001, 7002, 8001, 8006, 8009, 8023, 8026, 8501, 50110, 50113, 50664, 71102, 71104, 71105}
)
#: "80 = a generator filter wrote 0 events" (permanent).
GENERATOR_FILTER_EMPTY = 80
DATA_CODES = frozenset({8016, 8021, 8027, 8028, 8034})
MEMORY_CODES = frozenset({50660, 50661, 8004, 8030, 8031})
INFRASTRUCTURE_CODES = frozenset(
    {
        50,
        71,
        72,
        74,
        81,
        8020,
        8033,
        8035,
        *range(10003, 10010),
        10018,
        10032,
        10042,
        10043,
        60307,
        60311,
        60315,
        60316,
        60321,
        60324,
    }
)
#: 8001 is permanent, except a cms::Exception about the site configuration.
SITE_CONFIG_HINT = "site-local-config"
#: Log-tail text of an infrastructure failure (case-insensitive; compiled on first use, see below).
INFRASTRUCTURE_LOG_PATTERN = (
    r"stage[- ]?out|permission denied|no space left on device"
    r"|\bhttp\b[^\n]{0,30}?\b(?:403|507)\b|\b403\s+forbidden\b|\b507\s+insufficient storage\b"
)

CATEGORIES = ("success", "permanent", "data", "memory", "infrastructure", "transient", "catastrophic")


class Verdict(NamedTuple):
    """A NamedTuple, not a dataclass: ``dataclasses`` is one more import in every POST script and only
    the classification uses it there (docs/design-notes/test-speed.md)."""

    category: str
    retryable: bool


@cache
def infrastructure_log() -> re.Pattern[str]:
    """The compiled :data:`INFRASTRUCTURE_LOG_PATTERN`: compiled when a failure's log tail is searched,
    not when a successful POST script or the job wrapper imports this module."""
    return re.compile(INFRASTRUCTURE_LOG_PATTERN, re.IGNORECASE)


def classify(exit_code: int, error_message: str = "", log_tail: str = "") -> Verdict:
    """Category of one node attempt from its overall exit code, the FJR error text and the log tail.

    ``exit_code`` is the overall code: the CMSSW exit status when non-zero, else the job exit code.
    """
    if exit_code == 0:
        return Verdict("success", False)
    if exit_code == 8001 and SITE_CONFIG_HINT in error_message:
        return Verdict("infrastructure", True)
    if exit_code in PERMANENT_CODES or exit_code == GENERATOR_FILTER_EMPTY:
        return Verdict("permanent", False)
    if exit_code in DATA_CODES:
        return Verdict("data", False)
    if exit_code in MEMORY_CODES:
        return Verdict("memory", True)
    if exit_code in INFRASTRUCTURE_CODES or infrastructure_log().search(log_tail or ""):
        return Verdict("infrastructure", True)
    return Verdict("transient", True)
