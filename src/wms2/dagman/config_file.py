"""Per-DAG ``CONFIG`` files (reference §5.3): ``KEY = value`` lines; only ``DAGMAN_*`` knobs matter."""

from __future__ import annotations

from pathlib import Path


class ConfigError(ValueError):
    pass


def read_config(path: Path) -> dict[str, str]:
    knobs: dict[str, str] = {}
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read DAGMan config file: {exc.strerror}") from exc
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ConfigError(f"{path.name}:{number}: expected KEY = value")
        knobs[key.strip().upper()] = value.strip()
    return knobs


def knob_bool(knobs: dict[str, str], key: str, default: bool) -> bool:
    value = knobs.get(key)
    if value is None:
        return default
    return value.strip().lower() in ("true", "1", "yes", "t")


def knob_int(knobs: dict[str, str], key: str, default: int) -> int:
    value = knobs.get(key)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{key} must be an integer, got {value!r}") from None
