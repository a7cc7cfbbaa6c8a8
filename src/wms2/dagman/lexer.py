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


# Commands whose submit token may open an inline description (reference §1.2, "inline submit").
INLINE_COMMANDS = {"JOB", "FINAL", "PROVISIONER", "SERVICE", "SUBMIT_DESCRIPTION"}


@dataclass(frozen=True)
class LogicalLine:
    lineno: int  # number of the first physical line
    text: str
    body: tuple[str, ...] | None = None  # inline submit description lines (``{`` ... ``}``, ``@=tag`` ... ``@tag``)
    body_error: str | None = None  # the closing token never came


def _is_comment(stripped: str) -> bool:
    return stripped.startswith("#") or stripped.startswith("//")


def _opens_inline(text: str) -> str | None:
    """The closing token when this line opens an inline submit description, else None."""
    words = text.split()
    if len(words) < 3 or normalize_keyword(words[0]) not in INLINE_COMMANDS:
        return None
    if words[2] == "{":
        return "}"
    if words[2].startswith("@=") and len(words[2]) > 2:
        return "@" + words[2][2:]
    return None


def _read_body(lines: list[str], i: int, closing: str) -> tuple[list[str], str | None, int]:
    """Body lines are taken raw (trimmed; blank and comment lines dropped; no continuation) up to the
    closing token, which may be followed by more node options.  Returns (body, tail, next index)."""
    body: list[str] = []
    while i < len(lines):
        stripped = lines[i].strip()
        i += 1
        if stripped == closing or stripped.startswith(closing + " ") or stripped.startswith(closing + "\t"):
            return body, stripped[len(closing):].strip(), i
        if stripped and not _is_comment(stripped):
            body.append(stripped)
    return body, None, i


def logical_lines(text: str) -> list[LogicalLine]:
    """Join continuations, drop blank and comment lines, collect inline submit descriptions."""
    out: list[LogicalLine] = []
    pending: list[str] = []
    start = 0
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        number, stripped = i + 1, lines[i].strip()
        i += 1
        if not stripped or _is_comment(stripped):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        joined = " ".join(p for p in pending if p)
        pending = []
        closing = _opens_inline(joined)
        if closing is None:
            out.append(LogicalLine(start, joined))
            continue
        body, tail, i = _read_body(lines, i, closing)
        if tail is None:
            out.append(LogicalLine(start, joined, tuple(body),
                                   f"Missing inline description closing token: {closing}"))
            break
        out.append(LogicalLine(start, f"{joined} {tail}".strip(), tuple(body)))
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
