"""Pieces shared by the DAG parser modules: one tokenized command line and the line-level error.

Error texts follow DAGMan's parser (``<file>:<line> Failed to parse <CMD> command: <reason>``, the
reasons as in HTCondor's ``OTEST_DagFileParser`` golden list); we put a colon after the line number so
every message reads ``FILE:LINE: reason``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wms2.dagman.lexer import normalize_keyword

ALL_NODES = "ALL_NODES"
RESERVED_NAMES = {"PARENT", "CHILD", "ALL_NODES"}
ILLEGAL_NAME_CHARS = "+"
MAX_ABORT_RETURN = 255  # RETURN is limited to 0..255 (reference §1.2)


class LineError(ValueError):
    """One command line is wrong; the message is DAGMan's reason."""


@dataclass
class Line:
    where: str  # "file:line"
    cmd: str  # normalized keyword (WEAK PARENT -> PARENT with weak=True)
    raw: str
    tokens: list[tuple[str, int]]  # (token, index just past it) over ``raw``
    body: tuple[str, ...] | None = None
    body_error: str | None = None
    weak: bool = False
    first: int = 1  # index of the first argument token
    scope: list[str] = field(default_factory=list)

    def args(self) -> list[str]:
        return [t for t, _ in self.tokens[self.first:]]

    def rest_after(self, index: int) -> str:
        """Raw text after token number ``index`` (0 = the command)."""
        return self.raw[self.tokens[index][1]:].strip()


def to_int(value: str, message: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise LineError(message) from None


def no_more(args: list[str], count: int) -> None:
    """DAGMan refuses anything after the last expected token."""
    if len(args) > count:
        raise LineError(f"Unexpected token '{args[count]}'")


def check_node_name(name: str) -> None:
    if name.upper() in RESERVED_NAMES:
        raise LineError("Node name is a reserved word")
    if any(ch in name for ch in ILLEGAL_NAME_CHARS):
        raise LineError("Node name contains illegal charater")  # [sic], DAGMan's spelling


def keyword(token: str) -> str:
    return normalize_keyword(token)
