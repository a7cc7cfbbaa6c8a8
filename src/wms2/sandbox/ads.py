"""Read the HTCondor machine and job ads handed to every job (``$_CONDOR_MACHINE_AD``,
``$_CONDOR_JOB_AD``), in ClassAd "long" format: one ``Attr = value`` per line."""

from __future__ import annotations

import os

MACHINE_AD_ENV = "_CONDOR_MACHINE_AD"
JOB_AD_ENV = "_CONDOR_JOB_AD"
SITE_ATTR = "GLIDEIN_CMSSite"
#: Attempt number the PRE script puts into the job ad (0 on the first attempt, as DAGMan's $RETRY).
ATTEMPT_ATTR = "WMS2_Attempt"


def _value(raw: str) -> str | int | float | bool:
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            continue
    return raw


def parse_ad(text: str) -> dict[str, str | int | float | bool]:
    """Attribute names are case-insensitive in ClassAds: keys are kept as written, look-ups use get_attr."""
    ad: dict[str, str | int | float | bool] = {}
    for line in text.splitlines():
        if "=" not in line or line.lstrip().startswith(("#", "[", "]")):
            continue
        name, _, value = line.partition("=")
        name = name.strip()
        if name and " " not in name:
            ad[name] = _value(value)
    return ad


def read_ad(env_var: str) -> dict[str, str | int | float | bool]:
    path = os.environ.get(env_var)
    if not path or not os.path.isfile(path):
        return {}
    with open(path) as handle:  # os.path, not pathlib: the PRE script's process never imports pathlib
        return parse_ad(handle.read())


def get_attr(ad: dict[str, str | int | float | bool], name: str) -> str | int | float | bool | None:
    lowered = name.lower()
    for key, value in ad.items():
        if key.lower() == lowered:
            return value
    return None


def machine_site() -> str | None:
    site = get_attr(read_ad(MACHINE_AD_ENV), SITE_ATTR)
    return str(site) if site not in (None, "") else None


def job_number(name: str) -> float | None:
    value = get_attr(read_ad(JOB_AD_ENV), name)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
