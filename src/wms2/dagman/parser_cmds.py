"""Pass 2 of the DAG parser: every command that is not a definition, in file order (reference §1.2).
Mixed into the parser class of ``parser.py``."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from wms2.dagman.lexer import unquote
from wms2.dagman.model import DagSpec, NodeSpec, Script
from wms2.dagman.parser_common import (
    ALL_NODES,
    MAX_ABORT_RETURN,
    Line,
    LineError,
    keyword,
    no_more,
    to_int,
)
from wms2.dagman.vars import parse_vars

if TYPE_CHECKING:
    class _Host:
        spec: DagSpec
        in_splice: bool
        edges: set[tuple[str, str]]

        def note(self, line: Line, text: str) -> None: ...
else:
    _Host = object

SCRIPT_TYPES = ("PRE", "POST", "HOLD")
DEBUG_TYPES = ("STDOUT", "STDERR", "ALL")
_TOLERANCE = re.compile(r"^(\d+)(%?)$")
# Node kinds each command may name (reference §1.2: RETRY/ABORT-DAG-ON/PRIORITY/CATEGORY are not for
# FINAL, SERVICE or PROVISIONER nodes; ALL_NODES skips FINAL).
JOB_LIKE = ("JOB", "SUBDAG")


class PassTwoCommands(_Host):
    # -- lookups ---------------------------------------------------------------------------------
    def _lookup(self, name: str) -> NodeSpec:
        node = self.spec.nodes.get(name) or self.spec.services.get(name)
        if node is not None:
            return node
        if name in self.spec.splices:
            raise LineError(f"'{name}' is a splice; this command needs a node")
        raise LineError(f"Unknown node '{name}'")

    def _targets(self, name: str, cmd: str, kinds: tuple[str, ...] | None = None) -> list[NodeSpec]:
        if name.upper() == ALL_NODES:
            return [n for n in self.spec.nodes.values() if not n.is_final]
        node = self._lookup(name)
        if kinds is not None and node.kind not in kinds:
            raise LineError(f"{cmd} cannot be used on the {node.kind} node {name}")
        return [node]

    def _edge_side(self, name: str, parent_side: bool) -> list[str]:
        """A PARENT/CHILD name: a node, or a splice (its terminal nodes as parent, initial as child)."""
        splice = self.spec.splices.get(name)
        if splice is not None:
            return splice.terminal if parent_side else splice.initial
        node = self.spec.nodes.get(name)
        if node is None:
            if name in self.spec.services:
                raise LineError(f"SERVICE node {name} cannot be used in PARENT/CHILD")
            raise LineError(f"Unknown node '{name}'")
        if node.is_final:
            raise LineError(f"FINAL node {name} cannot be used in PARENT/CHILD")
        return [name]

    # -- dependencies ----------------------------------------------------------------------------
    def _cmd_parent(self, line: Line) -> None:
        args = line.args()
        upper = [a.upper() for a in args]
        split = upper.index("CHILD") if "CHILD" in upper else -1
        if not args or split == 0:
            raise LineError("No parent node(s) specified")
        if split < 0:
            raise LineError("Missing CHILD specifier")
        parents, children = args[:split], args[split + 1:]
        if not children:
            raise LineError("No children node(s) specified")
        parent_nodes = [n for p in dict.fromkeys(parents) for n in self._edge_side(p, True)]
        child_nodes = [n for c in dict.fromkeys(children) for n in self._edge_side(c, False)]
        self.add_edges(parent_nodes, child_nodes, line.weak)

    def add_edges(self, parents: list[str], children: list[str], weak: bool) -> None:
        nodes = self.spec.nodes
        for p in dict.fromkeys(parents):
            for c in dict.fromkeys(children):
                child = nodes[c]
                if (p, c) not in self.edges:
                    self.edges.add((p, c))
                    nodes[p].children.append(c)
                    child.parents.append(p)
                    if weak:
                        child.weak_parents.add(p)
                elif not weak:
                    child.weak_parents.discard(p)  # declared both weak and strong: strong wins

    def _cmd_connect(self, line: Line) -> None:
        args = line.args()
        if len(args) < 2:
            raise LineError("Missing splice(s) to connect")
        no_more(args, 2)
        out_name, in_name = args
        for name in (out_name, in_name):
            if name not in self.spec.splices:
                raise LineError(f"Splice '{name}' not found (only splices can be connected)")
        out_pins = self.spec.splices[out_name].pins_out
        in_pins = self.spec.splices[in_name].pins_in
        for label, pins, splice in (("PIN_OUT", out_pins, out_name), ("PIN_IN", in_pins, in_name)):
            if sorted(pins) != list(range(1, len(pins) + 1)):
                raise LineError(f"{label} pins of splice {splice} are not consecutive from 1: {sorted(pins)}")
        if len(out_pins) != len(in_pins):
            raise LineError(f"Pin counts differ: {out_name} has {len(out_pins)} PIN_OUT, "
                            f"{in_name} has {len(in_pins)} PIN_IN")
        for number, outs in out_pins.items():
            self.add_edges(outs, in_pins[number], weak=False)

    def _pin(self, line: Line, pins: dict[int, list[str]]) -> None:
        args = line.args()
        if not args:
            raise LineError("No node name specified")
        if len(args) < 2:
            raise LineError("No pin number specified")
        number = to_int(args[1], f"Invalid pin number '{args[1]}'")
        if number < 1:
            raise LineError(f"Invalid pin number '{args[1]}'")
        no_more(args, 2)
        self._lookup(args[0])
        pins.setdefault(number, []).append(args[0])

    def _cmd_pin_in(self, line: Line) -> None:
        self._pin(line, self.spec.pins_in)

    def _cmd_pin_out(self, line: Line) -> None:
        self._pin(line, self.spec.pins_out)

    # -- scripts ---------------------------------------------------------------------------------
    def _cmd_script(self, line: Line) -> None:
        tokens = line.tokens
        i = line.first
        defer: tuple[int, float] | None = None
        debug: tuple[str, str] | None = None
        while i < len(tokens) and keyword(tokens[i][0]) in ("DEFER", "DEBUG"):
            if keyword(tokens[i][0]) == "DEFER":
                if i + 1 >= len(tokens):
                    raise LineError("DEFER missing status value")
                status = to_int(tokens[i + 1][0], f"Invalid DEFER status value '{tokens[i + 1][0]}'")
                if i + 2 >= len(tokens):
                    raise LineError("DEFER missing time value")
                secs = to_int(tokens[i + 2][0], f"Invalid DEFER time value '{tokens[i + 2][0]}'")
                defer = (status, float(secs))
            else:
                if i + 1 >= len(tokens):
                    raise LineError("DEBUG missing filename")
                if i + 2 >= len(tokens):
                    raise LineError("DEBUG missing output stream type (STDOUT, STDERR, ALL)")
                stream = tokens[i + 2][0].upper()
                if stream not in DEBUG_TYPES:
                    raise LineError(f"Unknown DEBUG output stream type '{tokens[i + 2][0]}'")
                debug = (unquote(tokens[i + 1][0]), stream)
            i += 3
        if i >= len(tokens):
            raise LineError("Missing script type (PRE, POST, HOLD) and optional sub-commands (DEFER, DEBUG)")
        kind = tokens[i][0].upper()
        if kind not in SCRIPT_TYPES:
            raise LineError(f"Unknown script type '{tokens[i][0]}' (PRE, POST, HOLD)")
        if i + 1 >= len(tokens):
            raise LineError("No node name specified")
        if i + 2 >= len(tokens):
            raise LineError("No script specified")
        command = line.rest_after(i + 1)
        for node in self._targets(tokens[i + 1][0], "SCRIPT"):
            script = Script(kind, command)
            if defer is not None:
                script.defer_status, script.defer_time = defer
            if debug is not None:
                script.debug_file, script.debug_type = debug
            setattr(node, kind.lower(), script)
        if kind == "HOLD":
            self.note(line, "HOLD scripts never run on the local engine: its jobs are never held")

    def _cmd_pre_skip(self, line: Line) -> None:
        args = line.args()
        if not args:
            raise LineError("No node name specified")
        if len(args) < 2:
            raise LineError("Missing exit code")
        code = to_int(args[1], f"Invalid exit code '{args[1]}'")
        no_more(args, 2)
        for node in self._targets(args[0], "PRE_SKIP"):
            node.pre_skip = code

    # -- retry / abort / tolerance ---------------------------------------------------------------
    def _cmd_retry(self, line: Line) -> None:
        args = line.args()
        if not args:
            raise LineError("No node name specified")
        if len(args) < 2:
            raise LineError("Missing max retry value")
        count = to_int(args[1], f"Invalid max retry value '{args[1]}' (Must be positive integer)")
        if count < 0:
            raise LineError(f"Invalid max retry value '{args[1]}' (Must be positive integer)")
        unless: int | None = None
        if len(args) > 2:
            if keyword(args[2]) != "UNLESS_EXIT":
                raise LineError(f"Unexpected token '{args[2]}'")
            if len(args) < 4:
                raise LineError("UNLESS-EXIT missing exit code")
            unless = to_int(args[3], f"Invalid UNLESS-EXIT code '{args[3]}' specified")
            no_more(args, 4)
        for node in self._targets(args[0], "RETRY", JOB_LIKE):
            node.retries = count
            node.unless_exit = unless

    def _cmd_abort_dag_on(self, line: Line) -> None:
        args = line.args()
        if not args:
            raise LineError("No node name specified")
        if len(args) < 2:
            raise LineError("Missing exit status to abort on")
        value = to_int(args[1], f"Invalid exit status '{args[1]}' specified")
        ret: int | None = None
        if len(args) > 2:
            if keyword(args[2]) != "RETURN":
                raise LineError(f"Unexpected token '{args[2]}'")
            if len(args) < 4:
                raise LineError("RETURN is missing value")
            bad = f"Invalid RETURN code '{args[3]}' (Must be between 0 and {MAX_ABORT_RETURN})"
            ret = to_int(args[3], bad)
            if not 0 <= ret <= MAX_ABORT_RETURN:
                raise LineError(bad)
            no_more(args, 4)
        for node in self._targets(args[0], "ABORT_DAG_ON", (*JOB_LIKE, "PROVISIONER")):
            node.abort_on = value
            node.abort_return = ret

    def _cmd_tolerance(self, line: Line) -> None:
        args = line.args()
        if not args:
            raise LineError("No node name specified")
        if len(args) < 2:
            raise LineError("Missing job failure tolerance value")
        match = _TOLERANCE.match(args[1])
        if not match:
            raise LineError(f"Invalid job failure tolerance value '{args[1]}'")
        fail_fast: bool | None = None
        if len(args) > 2:
            word = keyword(args[2])
            if word not in ("FAIL_FAST", "WAIT"):
                raise LineError(f"Unexpected token '{args[2]}'")
            fail_fast = word == "FAIL_FAST"
            no_more(args, 3)
        for node in self._targets(args[0], "TOLERANCE", JOB_LIKE):
            node.tolerance, node.tolerance_pct = int(match.group(1)), bool(match.group(2))
            node.fail_fast = fail_fast

    # -- per-node settings -----------------------------------------------------------------------
    def _cmd_vars(self, line: Line) -> None:
        args = line.args()
        if not args:
            raise LineError("No node name specified")
        index = line.first + 1
        append: bool | None = None
        if len(line.tokens) > index and keyword(line.tokens[index][0]) in ("PREPEND", "APPEND"):
            append = keyword(line.tokens[index][0]) == "APPEND"
            index += 1
        pairs = parse_vars(line.raw[line.tokens[index - 1][1]:])
        if not pairs:
            raise LineError("No key=value pairs specified")
        for node in self._targets(args[0], "VARS"):
            target = node.append_vars if append else node.vars
            for key, value in pairs:
                target[key] = value

    def _cmd_priority(self, line: Line) -> None:
        args = line.args()
        if not args:
            raise LineError("No node name specified")
        if len(args) < 2:
            raise LineError("Missing priority value")
        prio = to_int(args[1], f"Invalid priority value '{args[1]}'")
        no_more(args, 2)
        for node in self._targets(args[0], "PRIORITY", (*JOB_LIKE, "SERVICE", "PROVISIONER")):
            node.priority = prio

    def _cmd_category(self, line: Line) -> None:
        args = line.args()
        if not args:
            raise LineError("No node name specified")
        if len(args) < 2:
            raise LineError("No category name specified")
        no_more(args, 2)
        for node in self._targets(args[0], "CATEGORY", JOB_LIKE):
            node.category = args[1]

    def _cmd_maxjobs(self, line: Line) -> None:
        args = line.args()
        if not args:
            raise LineError("No category name specified")
        if len(args) < 2:
            raise LineError("No throttle limit specified")
        limit = to_int(args[1], f"Invalid throttle limit '{args[1]}'")
        if limit < 0:
            raise LineError(f"Invalid throttle limit '{args[1]}'")
        no_more(args, 2)
        self.spec.maxjobs[args[0]] = limit

    def _cmd_done(self, line: Line) -> None:
        args = line.args()
        if not args:
            raise LineError("No node name specified")
        no_more(args, 1)
        node = self._lookup(args[0])
        if node.kind in JOB_LIKE:
            node.done = True
        else:
            self.note(line, f"DONE is ignored for {node.kind} node {node.name}")

    def _cmd_save_point_file(self, line: Line) -> None:
        args = line.args()
        if not args:
            raise LineError("No node name specified")
        no_more(args, 2)
        if args[0].upper() == ALL_NODES:
            raise LineError("ALL_NODES cannot be used with SAVE_POINT_FILE")
        node = self._targets(args[0], "SAVE_POINT_FILE", JOB_LIKE)[0]
        node.save_file = unquote(args[1]) if len(args) > 1 else f"{node.name}-{self.spec.path.name}.save"

    # -- submit-time commands --------------------------------------------------------------------
    def _cmd_config(self, line: Line) -> None:
        args = line.args()
        if not args:
            raise LineError("No configuration file specified")
        no_more(args, 1)
        if self.in_splice:
            self.note(line, "CONFIG inside a splice is ignored")
            return
        path = str((self.spec.directory / unquote(args[0])).absolute())
        if self.spec.config_file is not None and self.spec.config_file != path:
            raise LineError(f"Conflicting DAGMan config files specified: {self.spec.config_file} and {path}")
        self.spec.config_file = path

    def _cmd_set_job_attr(self, line: Line) -> None:
        text = line.rest_after(0)
        key, sep, value = text.partition("=")
        if not text:
            raise LineError("No attribute line (key = value) provided")
        if not sep or not key.strip():
            raise LineError(f"Invalid attribute line '{text}' (key = value)")
        if not self.in_splice:
            self.spec.job_attrs[key.strip()] = value.strip()

    def _cmd_env(self, line: Line) -> None:
        args = line.args()
        if not args:
            raise LineError("Missing action (SET or GET) and variables")
        if keyword(args[0]) not in ("GET", "SET"):
            raise LineError(f"Unexpected token '{args[0]}'")
        if len(args) < 2:
            raise LineError("No environment variables provided")
        if not self.in_splice:
            self.spec.env.append(line.rest_after(0))
