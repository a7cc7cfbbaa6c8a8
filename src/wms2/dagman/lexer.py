"""DAGMan's lexical rules for DAG input files (reference §1.1).

Physical lines are trimmed; blank lines and lines starting with ``#`` or ``//`` are skipped; a line
ending in ``\\`` is joined to the next one with one space.  Tokens are split on space, tab and CR and
may be quoted with ``"`` or ``'`` (``\\`` escapes the next character inside quotes).  Tokens keep
their quotes; callers decide what to unquote (node names are never unquoted).
"""

from __future__ import annotations

from dataclasses import dataclass

SEPARATORS = " \t\r"


class LexError(ValueError):
    """A quoting problem in one line."""


@dataclass(frozen=True)
class LogicalLine:
    lineno: int  # number of the first physical line
    text: str


def _is_comment(stripped: str) -> bool:
    return stripped.startswith("#") or stripped.startswith("//")


def logical_lines(text: str) -> list[LogicalLine]:
    """Join continuations, drop blank and comment lines."""
    out: list[LogicalLine] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or _is_comment(stripped):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        out.append(LogicalLine(start, " ".join(p for p in pending if p)))
        pending = []
    if pending:
        out.append(LogicalLine(start, " ".join(p for p in pending if p)))
    return out


def tokenize(line: str) -> list[tuple[str, int]]:
    """Split a line into raw tokens with the index just past each token."""
    tokens: list[tuple[str, int]] = []
    i, n = 0, len(line)
    while i < n:
        while i < n and line[i] in SEPARATORS:
            i += 1
        if i >= n:
            break
        start = i
        quote: str | None = None
        while i < n:
            ch = line[i]
            if quote:
                if ch == "\\" and i + 1 < n:
                    i += 2
                    continue
                if ch == quote:
                    quote = None
            elif ch in "\"'":
                quote = ch
            elif ch in SEPARATORS:
                break
            i += 1
        if quote:
            raise LexError("Invalid quoting")
        tokens.append((line[start:i], i))
    return tokens


def unquote(token: str) -> str:
    """Remove quotes and backslash escapes inside them (``"a b"`` -> ``a b``)."""
    out: list[str] = []
    quote: str | None = None
    i = 0
    while i < len(token):
        ch = token[i]
        if quote:
            if ch == "\\" and i + 1 < len(token):
                out.append(token[i + 1])
                i += 2
                continue
            if ch == quote:
                quote = None
            else:
                out.append(ch)
        elif ch in "\"'":
            quote = ch
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def normalize_keyword(word: str) -> str:
    """Keywords are case-insensitive and ``-``/``_`` are interchangeable."""
    return word.upper().replace("-", "_")
