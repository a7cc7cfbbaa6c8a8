"""DAG input file parser (reference §1.1-§1.2), for the commands the local engine supports.

Two passes like DAGMan: pass 1 defines nodes and files (``JOB``, ``FINAL``, ``SUBDAG``,
``NODE_STATUS_FILE``, ``JOBSTATE_LOG``), pass 2 applies every other command in file order, so
``PARENT``/``VARS`` may precede the ``JOB`` lines they name.  Every bad line is collected as
``<file>:<line>: <message>``; any command outside the supported list is reported as
``<file>:<line>: unsupported command X``.  Unknown nodes and cycles are errors before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from wms2.dagman.lexer import LexError, LogicalLine, logical_lines, normalize_keyword, tokenize, unquote
from wms2.dagman.model import DagSpec, NodeSpec, Script
from wms2.dagman.vars import VarsError, parse_vars

ALL_NODES = "ALL_NODES"
RESERVED_NAMES = {"PARENT", "CHILD", "ALL_NODES"}
PASS1 = {"JOB", "FINAL", "SUBDAG", "NODE_STATUS_FILE", "JOBSTATE_LOG"}
PASS2 = {
    "PARENT", "SCRIPT", "PRE_SKIP", "RETRY", "ABORT_DAG_ON", "VARS", "PRIORITY", "CATEGORY",
    "MAXJOBS", "CONFIG", "DONE", "SET_JOB_ATTR", "ENV",
}
SUPPORTED = PASS1 | PASS2
MAX_ABORT_RETURN = 255  # RETURN is limited to 0..255 (reference §1.2)


class DagParseError(ValueError):
    """The DAG file was refused; ``errors`` holds one ``file:line: message`` per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class _LineError(ValueError):
    pass


@dataclass
class _Line:
    where: str
    cmd: str
    raw: str
    tokens: list[tuple[str, int]]

    def args(self) -> list[str]:
        return [t for t, _ in self.tokens[1:]]

    def rest_after(self, index: int) -> str:
        """Raw text after token number ``index`` (0 = the command)."""
        return self.raw[self.tokens[index][1]:].strip()


def _int(value: str, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise _LineError(f"{what} must be an integer, got {value!r}") from None


class _Parser:
    def __init__(self, spec: DagSpec) -> None:
        self.spec = spec
        self.errors: list[str] = []
        self._edges: set[tuple[str, str]] = set()  # de-duplication in O(1) (fan-outs of 10^5 children)

    # -- entry points ----------------------------------------------------------------------------
    def read(self, path: Path) -> list[_Line]:
        lines: list[_Line] = []
        for logical in logical_lines(path.read_text()):
            parsed = self._tokenize(path, logical)
            if parsed is not None:
                lines.append(parsed)
        return lines

    def _tokenize(self, path: Path, logical: LogicalLine) -> _Line | None:
        where = f"{path.name}:{logical.lineno}"
        try:
            tokens = tokenize(logical.text)
        except LexError as exc:
            self.errors.append(f"{where}: {exc}")
            return None
        cmd = normalize_keyword(tokens[0][0])
        if cmd not in SUPPORTED:
            self.errors.append(f"{where}: unsupported command {tokens[0][0]}")
            return None
        return _Line(where, cmd, logical.text, tokens)

    def run_pass(self, lines: list[_Line], commands: set[str]) -> None:
        for line in lines:
            if line.cmd not in commands:
                continue
            handler: Callable[[_Line], None] = getattr(self, f"_cmd_{line.cmd.lower()}")
            try:
                handler(line)
            except (_LineError, VarsError) as exc:
                self.errors.append(f"{line.where}: Failed to parse {line.cmd} command: {exc}")

    # -- helpers ---------------------------------------------------------------------------------
    def _node(self, name: str) -> NodeSpec:
        node = self.spec.nodes.get(name)
        if node is None:
            raise _LineError(f"unknown node {name}")
        return node

    def _targets(self, name: str, allow_final: bool = True) -> list[NodeSpec]:
        if name == ALL_NODES:
            return [n for n in self.spec.nodes.values() if not n.is_final]
        node = self._node(name)
        if node.is_final and not allow_final:
            raise _LineError(f"not allowed on the FINAL node {name}")
        return [node]

    def _define(self, line: _Line, final: bool, subdag: bool) -> None:
        args = line.args()
        if subdag:
            if not args or normalize_keyword(args[0]) != "EXTERNAL":
                raise _LineError("Missing EXTERNAL keyword")
            args = args[1:]
        if len(args) < 2:
            raise _LineError("expected a node name and a submit file")
        name, submit = args[0], unquote(args[1])
        if name.upper() in RESERVED_NAMES:
            raise _LineError("Node name is a reserved word")
        if "+" in name:
            raise _LineError("Node name contains illegal charater")
        if submit in ("{",) or submit.startswith("@="):
            raise _LineError("inline submit descriptions are not supported")
        if name in self.spec.nodes:
            raise _LineError(f"duplicate node name {name}")
        if not subdag and not final and submit.endswith(".condor.sub"):
            raise _LineError("use of the JOB keyword for nested DAGs is prohibited")
        node = NodeSpec(name=name, submit=submit, source=line.where, is_subdag=subdag, is_final=final)
        self._node_options(node, args[2:], final)
        if final:
            if self.spec.final is not None:
                raise _LineError(f"more than one FINAL node ({self.spec.final}, {name})")
            self.spec.final = name
        self.spec.nodes[name] = node

    def _node_options(self, node: NodeSpec, options: list[str], final: bool) -> None:
        i = 0
        while i < len(options):
            word = normalize_keyword(options[i])
            if word == "DIR":
                if i + 1 >= len(options):
                    raise _LineError("DIR requires a directory")
                node.directory = unquote(options[i + 1])
                i += 2
                continue
            if word == "NOOP":
                node.noop = True
            elif word == "DONE":
                node.done = not final  # DONE is ignored (with a warning) for FINAL
            else:
                raise _LineError(f"Unexpected token '{options[i]}'")
            i += 1

    # -- pass 1 ----------------------------------------------------------------------------------
    def _cmd_job(self, line: _Line) -> None:
        self._define(line, final=False, subdag=False)

    def _cmd_final(self, line: _Line) -> None:
        self._define(line, final=True, subdag=False)

    def _cmd_subdag(self, line: _Line) -> None:
        self._define(line, final=False, subdag=True)

    def _cmd_node_status_file(self, line: _Line) -> None:
        args = line.args()
        if not args:
            raise _LineError("missing file name")
        if self.spec.node_status_file is not None:
            return  # only the first declaration counts
        self.spec.node_status_file = unquote(args[0])
        for word in args[1:]:
            key = normalize_keyword(word)
            if key == "ALWAYS_UPDATE":
                self.spec.status_always_update = True
            else:
                self.spec.status_interval = float(_int(word, "minimum update time"))

    def _cmd_jobstate_log(self, line: _Line) -> None:
        args = line.args()
        if len(args) != 1:
            raise _LineError("expected one file name")
        if self.spec.jobstate_log is None:
            self.spec.jobstate_log = unquote(args[0])

    # -- pass 2 ----------------------------------------------------------------------------------
    def _cmd_parent(self, line: _Line) -> None:
        args = line.args()
        upper = [a.upper() for a in args]
        if "CHILD" not in upper:
            raise _LineError("Missing CHILD specifier")
        split = upper.index("CHILD")
        parents, children = args[:split], args[split + 1:]
        if not parents:
            raise _LineError("No parent node(s) specified")
        if not children:
            raise _LineError("No children node(s) specified")
        for name in parents + children:
            if self._node(name).is_final:
                raise _LineError(f"FINAL node {name} cannot be used in PARENT/CHILD")
        for p in dict.fromkeys(parents):
            parent = self.spec.nodes[p]
            for c in dict.fromkeys(children):
                if (p, c) not in self._edges:
                    self._edges.add((p, c))
                    parent.children.append(c)
                    self.spec.nodes[c].parents.append(p)

    def _cmd_script(self, line: _Line) -> None:
        tokens = line.tokens
        i = 1
        defer_status: int | None = None
        defer_time = 0.0
        debug: tuple[str, str] | None = None
        while i < len(tokens) and normalize_keyword(tokens[i][0]) in ("DEFER", "DEBUG"):
            word = normalize_keyword(tokens[i][0])
            if i + 2 >= len(tokens):
                raise _LineError(f"{word} requires two values")
            if word == "DEFER":
                defer_status = _int(tokens[i + 1][0], "DEFER status")
                defer_time = float(_int(tokens[i + 2][0], "DEFER time"))
            else:
                stream = tokens[i + 2][0].upper()
                if stream not in ("STDOUT", "STDERR", "ALL"):
                    raise _LineError(f"DEBUG type must be STDOUT, STDERR or ALL, got {tokens[i + 2][0]}")
                debug = (unquote(tokens[i + 1][0]), stream)
            i += 3
        if i + 2 >= len(tokens):
            raise _LineError("expected PRE|POST, a node name and an executable")
        kind = tokens[i][0].upper()
        if kind not in ("PRE", "POST"):
            raise _LineError(f"unsupported script type {tokens[i][0]}")
        command = line.rest_after(i + 1)
        for node in self._targets(tokens[i + 1][0]):
            script = Script(kind, command, defer_status, defer_time)
            if debug is not None:
                script.debug_file, script.debug_type = debug
            if kind == "PRE":
                node.pre = script
            else:
                node.post = script

    def _cmd_pre_skip(self, line: _Line) -> None:
        args = line.args()
        if len(args) != 2:
            raise _LineError("expected a node name and an exit code")
        code = _int(args[1], "PRE_SKIP exit code")
        if code == 0:
            raise _LineError("PRE_SKIP exit code must be non-zero")
        for node in self._targets(args[0]):
            node.pre_skip = code

    def _cmd_retry(self, line: _Line) -> None:
        args = line.args()
        if len(args) not in (2, 4):
            raise _LineError("expected RETRY <node> <N> [UNLESS-EXIT <code>]")
        count = _int(args[1], "retry count")
        if count < 0:
            raise _LineError("retry count must be >= 0")
        unless: int | None = None
        if len(args) == 4:
            if normalize_keyword(args[2]) != "UNLESS_EXIT":
                raise _LineError(f"Unexpected token '{args[2]}'")
            unless = _int(args[3], "UNLESS-EXIT code")
        for node in self._targets(args[0], allow_final=False):
            node.retries = count
            node.unless_exit = unless

    def _cmd_abort_dag_on(self, line: _Line) -> None:
        args = line.args()
        if len(args) not in (2, 4):
            raise _LineError("expected ABORT-DAG-ON <node> <value> [RETURN <r>]")
        value = _int(args[1], "abort value")
        ret: int | None = None
        if len(args) == 4:
            if args[2].upper() != "RETURN":
                raise _LineError(f"Unexpected token '{args[2]}'")
            ret = _int(args[3], "RETURN value")
            if not 0 <= ret <= MAX_ABORT_RETURN:
                raise _LineError("RETURN value must be in 0..255")
        for node in self._targets(args[0], allow_final=False):
            node.abort_on = value
            node.abort_return = ret

    def _cmd_vars(self, line: _Line) -> None:
        if len(line.tokens) < 3:
            raise _LineError("expected a node name and key=\"value\" pairs")
        index = 2
        append: bool | None = None
        mode = normalize_keyword(line.tokens[2][0])
        if mode in ("PREPEND", "APPEND"):
            append = mode == "APPEND"
            index = 3
        pairs = parse_vars(line.raw[line.tokens[index - 1][1]:])
        if not pairs:
            raise _LineError("no key=\"value\" pairs")
        for node in self._targets(line.tokens[1][0]):
            target = node.append_vars if append else node.vars
            for key, value in pairs:
                target[key] = value

    def _cmd_priority(self, line: _Line) -> None:
        args = line.args()
        if len(args) != 2:
            raise _LineError("expected a node name and a priority")
        prio = _int(args[1], "priority")
        for node in self._targets(args[0], allow_final=False):
            node.priority = prio

    def _cmd_category(self, line: _Line) -> None:
        args = line.args()
        if len(args) != 2:
            raise _LineError("expected a node name and a category")
        for node in self._targets(args[0], allow_final=False):
            node.category = args[1]

    def _cmd_maxjobs(self, line: _Line) -> None:
        args = line.args()
        if len(args) != 2:
            raise _LineError("expected a category and a limit")
        limit = _int(args[1], "MAXJOBS limit")
        if limit < 0:
            raise _LineError("MAXJOBS limit must be >= 0")
        self.spec.maxjobs[args[0]] = limit

    def _cmd_config(self, line: _Line) -> None:
        args = line.args()
        if len(args) != 1:
            raise _LineError("expected one file name")
        path = str((self.spec.directory / unquote(args[0])).absolute())
        if self.spec.config_file is not None and self.spec.config_file != path:
            raise _LineError(f"Conflicting DAGMan config files: {self.spec.config_file} and {path}")
        self.spec.config_file = path

    def _cmd_done(self, line: _Line) -> None:
        args = line.args()
        if len(args) != 1:
            raise _LineError("expected one node name")
        node = self._node(args[0])
        if not node.is_final:
            node.done = True

    def _cmd_set_job_attr(self, line: _Line) -> None:
        text = line.rest_after(0)
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise _LineError("expected <Attr> = <value>")
        self.spec.job_attrs[key.strip()] = value.strip()

    def _cmd_env(self, line: _Line) -> None:
        args = line.args()
        if not args or normalize_keyword(args[0]) not in ("GET", "SET"):
            raise _LineError("expected ENV GET|SET ...")
        self.spec.env.append(line.rest_after(0))


def _check_cycles(spec: DagSpec) -> list[str]:
    """Kahn's algorithm; names the nodes left on a cycle."""
    indegree = {name: len(node.parents) for name, node in spec.nodes.items()}
    queue = [name for name, deg in indegree.items() if deg == 0]
    seen = 0
    while queue:
        name = queue.pop()
        seen += 1
        for child in spec.nodes[name].children:
            indegree[child] -= 1
            if indegree[child] == 0:
                queue.append(child)
    if seen == len(spec.nodes):
        return []
    stuck = sorted(n for n, d in indegree.items() if d > 0)
    return [f"{spec.path.name}: cycle detected among nodes {', '.join(stuck[:10])}"]


def _apply(parser: _Parser, rescue_file: Path, rescue_number: int) -> None:
    try:
        rescue_lines = parser.read(rescue_file)
    except OSError as exc:
        raise DagParseError([f"{rescue_file.name}: cannot read rescue DAG: {exc.strerror}"]) from exc
    parser.run_pass(rescue_lines, PASS2)
    parser.spec.rescue_file = rescue_file
    parser.spec.rescue_number = rescue_number


def apply_rescue(spec: DagSpec, rescue_file: Path, rescue_number: int) -> DagSpec:
    """Parse a rescue DAG on top of an already parsed DAG (as DAGMan does), in place."""
    parser = _Parser(spec)
    _apply(parser, rescue_file, rescue_number)
    if parser.errors:
        raise DagParseError(parser.errors)
    return spec


def parse_dag(path: Path | str, rescue_file: Path | None = None, rescue_number: int = 0) -> DagSpec:
    """Parse a DAG file (and, on top of it, a rescue DAG when given)."""
    path = Path(path).absolute()
    spec = DagSpec(path=path)
    parser = _Parser(spec)
    try:
        lines = parser.read(path)
    except OSError as exc:
        raise DagParseError([f"{path.name}: cannot read DAG file: {exc.strerror}"]) from exc
    parser.run_pass(lines, PASS1)
    parser.run_pass(lines, PASS2)
    if rescue_file is not None:
        _apply(parser, rescue_file, rescue_number)
    if not parser.errors:
        parser.errors.extend(_check_cycles(spec))
    if parser.errors:
        raise DagParseError(parser.errors)
    return spec
