"""DAG input file parser: the whole DAGMan language (reference §1.1-§1.2).

Two passes like DAGMan: pass 1 defines nodes, splices, submit descriptions and output files; pass 2
applies every other command in file order, so ``PARENT``/``VARS`` may precede the ``JOB`` lines they
name.  ``INCLUDE`` is textual; ``SPLICE`` parses the other file as its own DAG and copies its nodes in
as ``splice+node``.  Every bad line is collected as ``<file>:<line>: <reason>`` with DAGMan's reason;
any error refuses the whole DAG.  Cycles are *not* refused here: like DAGMan, the run does what it can
and ends with the cycle status (``find_cycle`` names the nodes).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from wms2.dagman.lexer import LexError, LogicalLine, logical_lines, normalize_keyword, tokenize, unquote
from wms2.dagman.model import DagSpec
from wms2.dagman.parser_cmds import PassTwoCommands
from wms2.dagman.parser_common import Line, LineError, no_more
from wms2.dagman.parser_nodes import NodeCommands
from wms2.dagman.vars import VarsError

PASS1 = {"JOB", "FINAL", "SUBDAG", "SERVICE", "PROVISIONER", "SPLICE", "SUBMIT_DESCRIPTION", "REJECT", "DOT",
         "NODE_STATUS_FILE", "JOBSTATE_LOG"}
PASS2 = {
    "PARENT", "SCRIPT", "PRE_SKIP", "RETRY", "ABORT_DAG_ON", "VARS", "PRIORITY", "CATEGORY", "MAXJOBS",
    "CONFIG", "DONE", "SET_JOB_ATTR", "ENV", "SAVE_POINT_FILE", "CONNECT", "PIN_IN", "PIN_OUT", "TOLERANCE",
}
COMMANDS = PASS1 | PASS2 | {"INCLUDE"}


class DagParseError(ValueError):
    """The DAG file was refused; ``errors`` holds one ``file:line: message`` per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class _Parser(NodeCommands, PassTwoCommands):
    def __init__(self, spec: DagSpec, in_splice: bool = False, stack: tuple[Path, ...] = ()) -> None:
        self.spec = spec
        self.errors: list[str] = []
        self.edges: set[tuple[str, str]] = set()  # de-duplication in O(1) (fan-outs of 10^5 children)
        self.in_splice = in_splice
        self.stack = stack  # files being parsed (INCLUDE / SPLICE recursion check)

    def note(self, line: Line, text: str) -> None:
        self.spec.notes.append(f"{line.where}: {text}")

    # -- reading ---------------------------------------------------------------------------------
    def read(self, path: Path, display: str) -> list[Line]:
        lines: list[Line] = []
        self.stack = (*self.stack, path.resolve())
        for logical in logical_lines(path.read_text()):
            line = self._tokenize(display, logical)
            if line is None:
                continue
            if line.cmd == "INCLUDE":
                lines.extend(self._include(line))
            else:
                lines.append(line)
        self.stack = self.stack[:-1]
        return lines

    def _include(self, line: Line) -> list[Line]:
        try:
            args = line.args()
            if not args:
                raise LineError("No include file specified")
            no_more(args, 1)
            name = unquote(args[0])
            path = self.spec.directory / name
            if path.resolve() in self.stack:
                raise LineError(f"Recursive INCLUDE of file {name}")
            if not path.is_file():
                raise LineError(f"Include file {name} does not exist")
            return self.read(path, name)
        except LineError as exc:
            self.errors.append(f"{line.where}: Failed to parse INCLUDE command: {exc}")
            return []

    def _tokenize(self, display: str, logical: LogicalLine) -> Line | None:
        where = f"{display}:{logical.lineno}"
        try:
            tokens = tokenize(logical.text)
        except LexError as exc:
            self.errors.append(f"{where}: {exc}")
            return None
        cmd, first, weak = normalize_keyword(tokens[0][0]), 1, False
        if cmd == "WEAK":
            if len(tokens) < 2 or normalize_keyword(tokens[1][0]) != "PARENT":
                self.errors.append(f"{where}: Failed to parse PARENT command: WEAK must be followed by PARENT")
                return None
            cmd, first, weak = "PARENT", 2, True
        if cmd not in COMMANDS:
            self.errors.append(f"{where}: '{tokens[0][0]}' is not a valid DAG command")
            return None
        return Line(where, cmd, logical.text, tokens, logical.body, logical.body_error, weak, first)

    # -- passes ----------------------------------------------------------------------------------
    def run_pass(self, lines: list[Line], commands: set[str]) -> None:
        for line in lines:
            if line.cmd not in commands:
                continue
            handler: Callable[[Line], None] = getattr(self, f"_cmd_{line.cmd.lower()}")
            try:
                handler(line)
            except (LineError, VarsError) as exc:
                self.errors.append(f"{line.where}: Failed to parse {line.cmd} command: {exc}")

    def parse_file(self, path: Path, display: str) -> None:
        outer = self.stack
        self.stack = (*outer, path.resolve())  # kept during both passes: SPLICE recursion check
        lines = self.read(path, display)
        self.run_pass(lines, PASS1)
        self.run_pass(lines, PASS2)
        self.stack = outer
        self._resolve_descriptions()

    def _resolve_descriptions(self) -> None:
        """``JOB X <name>`` where ``<name>`` is a SUBMIT-DESCRIPTION uses that description."""
        descriptions = self.spec.submit_descriptions
        for node in [*self.spec.nodes.values(), *self.spec.services.values()]:
            if node.inline_submit is None and node.submit in descriptions:
                node.inline_submit = list(descriptions[node.submit])

    def parse_splice(self, line: Line, name: str, path: Path, base_dir: Path) -> DagSpec:
        if path.resolve() in self.stack:
            raise LineError(f"Recursive SPLICE of file {path.name}")
        if not path.is_file():
            raise LineError(f"Splice DAG file {path} does not exist")
        inner = DagSpec(path=path.absolute(), base_dir=base_dir.absolute())
        sub = _Parser(inner, in_splice=True, stack=self.stack)
        sub.parse_file(path, str(path))
        self.errors.extend(sub.errors)
        return inner


def find_cycle(spec: DagSpec) -> list[str]:
    """Nodes that can never run because they are on (or behind) a cycle; empty for an acyclic DAG."""
    indegree = {name: len(node.parents) for name, node in spec.nodes.items()}
    queue = [name for name, deg in indegree.items() if deg == 0]
    while queue:
        name = queue.pop()
        for child in spec.nodes[name].children:
            indegree[child] -= 1
            if indegree[child] == 0:
                queue.append(child)
    return [n for n, d in indegree.items() if d > 0]


def _apply(parser: _Parser, rescue_file: Path, rescue_number: int) -> None:
    try:
        rescue_lines = parser.read(rescue_file, str(rescue_file))
    except OSError as exc:
        raise DagParseError([f"{rescue_file}: cannot read rescue DAG: {exc.strerror}"]) from exc
    parser.run_pass(rescue_lines, PASS2)
    parser.spec.rescue_file = rescue_file
    parser.spec.rescue_number = rescue_number


def apply_rescue(spec: DagSpec, rescue_file: Path, rescue_number: int) -> DagSpec:
    """Parse a rescue DAG (or a save-point file) on top of an already parsed DAG, in place."""
    parser = _Parser(spec)
    _apply(parser, rescue_file, rescue_number)
    if parser.errors:
        raise DagParseError(parser.errors)
    return spec


def parse_dag(path: Path | str, rescue_file: Path | None = None, rescue_number: int = 0) -> DagSpec:
    """Parse a DAG file (and, on top of it, a rescue DAG when given).  Errors name the file as given."""
    display = str(path)
    path = Path(path).absolute()
    spec = DagSpec(path=path)
    parser = _Parser(spec)
    try:
        parser.parse_file(path, display)
    except OSError as exc:
        raise DagParseError([f"{display}: cannot read DAG file: {exc.strerror}"]) from exc
    if rescue_file is not None and not parser.errors:
        _apply(parser, rescue_file, rescue_number)
    if parser.errors:
        raise DagParseError(parser.errors)
    return spec
