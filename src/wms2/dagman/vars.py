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


def parse_vars(text: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in " \t\r":
            i += 1
        if i >= n:
            return pairs
        match = _KEY.match(text, i)
        if not match:
            raise VarsError(f"bad VARS key at {text[i:i + 20]!r}")
        key = match.group(0)
        i = match.end()
        while i < n and text[i] in " \t":
            i += 1
        if i >= n or text[i] != "=":
            raise VarsError(f"missing '=' after VARS key {key}")
        i += 1
        while i < n and text[i] in " \t":
            i += 1
        value, i = _value(text, i)
        if key.lower().startswith("queue"):
            raise VarsError(f"VARS key {key} may not start with 'queue'")
        if key.startswith("+"):
            key = "My." + key[1:]
        pairs.append((key, value))
