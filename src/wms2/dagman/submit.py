"""HTCondor submit descriptions: the subset WMS2 and ordinary users need.

``key = value`` lines (case-insensitive keys, ``\\`` continuation, ``#`` comments), ``+Attr = value``
and ``My.Attr = value`` job-ad attributes, ``include : file`` (macro-expanded name, relative to the
including file), ``queue [N]``, and ``$(macro)`` expansion (``$(name:default)``, ``$ENV(X)``).
Macros given before the file (DAGMan's VARS, prepended) are overridden by the file; appended ones
override it.  Unknown keys are kept.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

MAX_EXPANSION_DEPTH = 32  # guards against self-referencing macros
MAX_INCLUDE_DEPTH = 10
_MACRO = re.compile(r"\$(ENV)?\(([A-Za-z0-9_.+]+)(?::([^)]*))?\)")


class SubmitError(ValueError):
    """A submit description could not be read; the message names the file and line."""


@dataclass
class SubmitDescription:
    path: Path
    macros: dict[str, tuple[str, str]] = field(default_factory=dict)  # lower key -> (key, raw value)
    attrs: dict[str, str] = field(default_factory=dict)  # My.X / +X -> raw ClassAd expression text
    queue_count: int = 1
    queued: bool = False

    def set(self, key: str, value: str) -> None:
        if key.startswith("+"):
            key = "My." + key[1:]
        if key.lower().startswith("my."):
            self.attrs[key[3:]] = value
            return
        self.macros[key.lower()] = (key, value)

    def raw(self, key: str) -> str | None:
        entry = self.macros.get(key.lower())
        return entry[1] if entry else None

    def expand(self, text: str, depth: int = 0) -> str:
        if depth > MAX_EXPANSION_DEPTH:
            raise SubmitError(f"{self.path}: macro expansion too deep in {text!r}")

        def repl(match: re.Match[str]) -> str:
            env, name, default = match.group(1), match.group(2), match.group(3)
            if env:
                return os.environ.get(name, default or "")
            value = self.raw(name)
            if value is None and name.lower().startswith("my."):
                value = self.attrs.get(name[3:])
            if value is None:
                return default if default is not None else ""
            return self.expand(value, depth + 1)

        return _MACRO.sub(repl, text)

    def get(self, key: str, default: str | None = None) -> str | None:
        value = self.raw(key)
        if value is None:
            return default
        return self.expand(value).strip()

    def expanded_attrs(self) -> dict[str, str]:
        return {k: self.expand(v).strip() for k, v in self.attrs.items()}


def _lines(path: Path) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    pending = ""
    start = 0
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1].rstrip() + " "
            continue
        out.append((start, pending + stripped))
        pending = ""
    if pending:
        out.append((start, pending))
    return out


def _read_into(desc: SubmitDescription, path: Path, depth: int) -> None:
    if depth > MAX_INCLUDE_DEPTH:
        raise SubmitError(f"{path}: include nested too deeply")
    try:
        lines = _lines(path)
    except OSError as exc:
        raise SubmitError(f"{path}: cannot read submit file: {exc.strerror}") from exc
    _apply_lines(desc, path, lines, depth)


def _apply_lines(desc: SubmitDescription, path: Path, lines: list[tuple[int, str]], depth: int) -> None:
    for number, line in lines:
        where = f"{path.name}:{number}"
        lowered = line.lower()
        if lowered == "queue" or lowered.startswith(("queue ", "queue\t")):
            count = line[5:].strip()
            if count:
                try:
                    desc.queue_count = int(desc.expand(count.split()[0]))
                except ValueError:
                    raise SubmitError(f"{where}: only 'queue [N]' is supported, got {line!r}") from None
            desc.queued = True
            return
        key, sep, value = line.partition("=")
        inc_key, inc_sep, inc_value = line.partition(":")
        if inc_sep and inc_key.strip().lower() == "include" and (not sep or len(inc_key) < len(key)):
            name = desc.expand(inc_value.strip())
            _read_into(desc, (path.parent / name), depth + 1)
            continue
        if not sep or not key.strip():
            raise SubmitError(f"{where}: expected 'key = value', got {line!r}")
        desc.set(key.strip(), value.strip())


def parse_submit(
    path: Path | str,
    prepend: dict[str, str] | None = None,
    append: dict[str, str] | None = None,
) -> SubmitDescription:
    """Read a submit file with DAGMan-style macros (prepended before, appended after the file)."""
    path = Path(path)
    desc = SubmitDescription(path=path)
    for key, value in (prepend or {}).items():
        desc.set(key, value)
    _read_into(desc, path, 0)
    for key, value in (append or {}).items():
        desc.set(key, value)
    return desc


def parse_inline_submit(
    lines: list[str],
    pseudo_path: Path,
    prepend: dict[str, str] | None = None,
    append: dict[str, str] | None = None,
) -> SubmitDescription:
    """An inline (``JOB X {...}``) or named SUBMIT-DESCRIPTION body; ``pseudo_path`` names it in errors
    and anchors ``include :`` files (the node's directory)."""
    desc = SubmitDescription(path=pseudo_path)
    for key, value in (prepend or {}).items():
        desc.set(key, value)
    _apply_lines(desc, pseudo_path, list(enumerate(lines, start=1)), 0)
    for key, value in (append or {}).items():
        desc.set(key, value)
    return desc


def split_arguments(value: str) -> list[str]:
    """``arguments`` in both syntaxes: new (whole value in double quotes: ``""`` is a literal quote,
    single quotes group, ``''`` a literal single quote) and old (whitespace split, ``\\"`` escapes)."""
    value = value.strip()
    if not (value.startswith('"') and value.endswith('"') and len(value) >= 2):
        return [a.replace('\\"', '"') for a in value.split()]
    body = value[1:-1]
    args: list[str] = []
    current: list[str] = []
    in_token = False
    quoted = False
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == '"' and i + 1 < len(body) and body[i + 1] == '"':
            current.append('"')
            in_token = True
            i += 2
            continue
        if ch == "'":
            if quoted and i + 1 < len(body) and body[i + 1] == "'":
                current.append("'")
                i += 2
                continue
            quoted = not quoted
            in_token = True
        elif ch in " \t" and not quoted:
            if in_token:
                args.append("".join(current))
                current, in_token = [], False
        else:
            current.append(ch)
            in_token = True
        i += 1
    if quoted:
        raise SubmitError(f"unbalanced single quote in arguments {value!r}")
    if in_token:
        args.append("".join(current))
    return args


def parse_environment(value: str) -> dict[str, str]:
    """``environment`` in both syntaxes: new ``"A=1 B='x y'"`` and old ``A=1;B=2``."""
    value = value.strip()
    env: dict[str, str] = {}
    if value.startswith('"') and value.endswith('"') and len(value) >= 2:
        items = split_arguments(value)
    else:
        items = [i for i in value.split(";") if i.strip()]
    for item in items:
        key, sep, val = item.partition("=")
        if sep and key.strip():
            env[key.strip()] = val
    return env


def quote_arguments(args: list[str]) -> str:
    """Render arguments for display (shell quoting)."""
    return shlex.join(args)
