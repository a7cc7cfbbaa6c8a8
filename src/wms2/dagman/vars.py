"""``VARS`` key/value pairs (reference §1.2): ``key="value"`` with ``\\"`` and ``\\\\`` escapes inside
quotes, single quotes, unquoted values and spaces around ``=``; ``+Attr`` becomes ``My.Attr``."""

from __future__ import annotations

import re

_KEY = re.compile(r"(?:\+|[Mm][Yy]\.)?[A-Za-z0-9_]+")


class VarsError(ValueError):
    pass


def _value(text: str, i: int) -> tuple[str, int]:
    if i < len(text) and text[i] in "\"'":
        quote = text[i]
        i += 1
        out: list[str] = []
        while i < len(text):
            ch = text[i]
            if ch == "\\" and i + 1 < len(text) and text[i + 1] in (quote, "\\"):
                out.append(text[i + 1])
                i += 2
                continue
            if ch == quote:
                return "".join(out), i + 1
            out.append(ch)
            i += 1
        raise VarsError("Invalid quoting")
    start = i
    while i < len(text) and text[i] not in " \t":
        i += 1
    return text[start:i], i


def _key(text: str, i: int) -> tuple[str, int]:
    start = i
    while i < len(text) and text[i] not in " \t\r=":
        i += 1
    return text[start:i], i


def parse_vars(text: str) -> list[tuple[str, str]]:
    """The ``key=value`` pairs of a VARS line, with DAGMan's refusals (reference §1.2)."""
    pairs: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in " \t\r":
            i += 1
        if i >= n:
            return pairs
        key, i = _key(text, i)
        j = i
        while j < n and text[j] in " \t":
            j += 1
        if j >= n or text[j] != "=":
            raise VarsError(f"Non key=value token specified: {key}")
        i = j + 1
        bare = key[1:] if key.startswith("+") else key[3:] if key.lower().startswith("my.") else key
        if not bare:
            raise VarsError("Variable name must contain at least one alphanumeric character")
        if not _KEY.fullmatch(key):
            raise VarsError(f"Illegal variable name '{key}'")
        if key.lower().startswith("queue"):
            raise VarsError(f"Illegal variable name '{key}': name can not begin with 'queue'")
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            raise VarsError(f"No value specified for variable '{key}'")
        value, i = _value(text, i)
        if key.startswith("+"):
            key = "My." + key[1:]
        pairs.append((key, value))
