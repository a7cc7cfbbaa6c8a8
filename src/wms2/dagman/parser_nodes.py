"""Pass 1 of the DAG parser: the commands that define things (reference §1.1): JOB, FINAL, SUBDAG,
SERVICE, PROVISIONER, SPLICE, SUBMIT-DESCRIPTION, REJECT, DOT, NODE_STATUS_FILE, JOBSTATE_LOG.
Mixed into the parser class of ``parser.py``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from wms2.dagman.lexer import unquote
from wms2.dagman.model import DagSpec, DotConfig, NodeSpec, SpliceInfo
from wms2.dagman.parser_common import Line, LineError, check_node_name, keyword, no_more, to_int

if TYPE_CHECKING:
    _Base = object

    class _Host:
        spec: DagSpec
        in_splice: bool

        def note(self, line: Line, text: str) -> None: ...

        def parse_splice(self, line: Line, name: str, path: Path, base_dir: Path) -> DagSpec: ...
else:
    _Host = object

NODE_OPTIONS = {"DIR", "NOOP", "DONE"}


def _join_dir(outer: str | None, inner: str | None) -> str | None:
    """A splice DIR applies to every node inside it; absolute inner directories stay as they are."""
    if outer is None:
        return inner
    if inner is None:
        return outer
    return inner if os.path.isabs(inner) else os.path.join(outer, inner)


class NodeCommands(_Host):
    # -- node definitions ------------------------------------------------------------------------
    def _define(self, line: Line, kind: str) -> None:
        args = line.args()
        if kind == "SUBDAG":
            if not args or keyword(args[0]) != "EXTERNAL":
                raise LineError("Missing EXTERNAL keyword")
            args = args[1:]
        if not args:
            raise LineError("Missing node name")
        name = args[0]
        check_node_name(name)
        if len(args) < 2:
            raise LineError("No DAG file provided" if kind == "SUBDAG" else "No submit description provided")
        submit = unquote(args[1])
        inline = line.body is not None and kind != "SUBDAG"
        if line.body_error is not None:
            raise LineError(line.body_error)
        node = NodeSpec(name=name, submit=f"{name}-InlineDesc" if inline else submit, source=line.where,
                        is_subdag=kind == "SUBDAG", is_final=kind == "FINAL", kind=kind)
        if inline:
            node.inline_submit = list(line.body or ())
        self._node_options(line, node, args[2:])
        self._register(line, node, kind)

    def _node_options(self, line: Line, node: NodeSpec, options: list[str]) -> None:
        i = 0
        while i < len(options):
            word = keyword(options[i])
            if word not in NODE_OPTIONS:
                raise LineError(f"Unexpected token '{options[i]}'")
            if word == "DIR":
                if i + 1 >= len(options):
                    raise LineError("No directory path provided for DIR subcommand")
                node.directory = unquote(options[i + 1])
                i += 2
                continue
            if word == "NOOP":
                node.noop = True
            elif node.kind in ("JOB", "SUBDAG"):
                node.done = True
            else:
                self.note(line, f"DONE is ignored for {node.kind} node {node.name}")
            i += 1

    def _register(self, line: Line, node: NodeSpec, kind: str) -> None:
        spec = self.spec
        name = node.name
        if name in spec.nodes or name in spec.services:
            raise LineError(f"Node name '{name}' is not unique")
        if kind == "JOB" and node.inline_submit is None and node.submit.endswith(".condor.sub"):
            raise LineError("use of the JOB keyword for nested DAGs is prohibited")
        if kind == "FINAL":
            if self.in_splice:
                raise LineError(f"FINAL node {name} is not allowed in a splice")
            if spec.final is not None:
                raise LineError(f"Only one FINAL node is allowed (already have {spec.final})")
            spec.final = name
        if kind == "PROVISIONER":
            if spec.provisioner is not None:
                raise LineError(f"Only one PROVISIONER node is allowed (already have {spec.provisioner})")
            spec.provisioner = name
        if kind == "SERVICE":
            spec.services[name] = node
            return
        spec.nodes[name] = node

    def _cmd_job(self, line: Line) -> None:
        self._define(line, "JOB")

    def _cmd_final(self, line: Line) -> None:
        self._define(line, "FINAL")

    def _cmd_subdag(self, line: Line) -> None:
        self._define(line, "SUBDAG")

    def _cmd_service(self, line: Line) -> None:
        self._define(line, "SERVICE")

    def _cmd_provisioner(self, line: Line) -> None:
        self._define(line, "PROVISIONER")

    def _cmd_submit_description(self, line: Line) -> None:
        args = line.args()
        if not args:
            raise LineError("No submit description name provided")
        if line.body is None:
            raise LineError("No inline description provided")
        if line.body_error is not None:
            raise LineError(line.body_error)
        no_more(args, 2)
        if args[0] in self.spec.submit_descriptions:
            self.note(line, f"a submit description named {args[0]} already exists; it is not overwritten")
            return
        self.spec.submit_descriptions[args[0]] = list(line.body)

    # -- splices ---------------------------------------------------------------------------------
    def _cmd_splice(self, line: Line) -> None:
        args = line.args()
        if not args:
            raise LineError("Missing splice name")
        if len(args) < 2:
            raise LineError("Missing DAG file")
        name, dag_file = args[0], unquote(args[1])
        directory: str | None = None
        if len(args) > 2:
            if keyword(args[2]) != "DIR":
                raise LineError(f"Unexpected token '{args[2]}'")
            if len(args) < 4:
                raise LineError("No directory path provided for DIR subcommand")
            directory = unquote(args[3])
            no_more(args, 4)
        check_node_name(name)
        if name in self.spec.splices or name in self.spec.nodes:
            raise LineError(f"Splice name '{name}' is not unique")
        base = self.spec.directory / directory if directory else self.spec.directory
        inner = self.parse_splice(line, name, base / dag_file, base)
        self._merge_splice(name, inner, directory)

    def _merge_splice(self, name: str, inner: DagSpec, directory: str | None) -> None:
        """Copy the splice's nodes into this DAG as ``name+node`` (reference §1.2, SPLICE)."""
        prefix = name + "+"

        def rename(node_name: str) -> str:
            return prefix + node_name

        def scoped(category: str | None) -> str | None:
            return category if category is None or category.startswith("+") else prefix + category

        info = SpliceInfo(name=name)
        for node in inner.nodes.values():
            node.name = rename(node.name)
            node.parents = [rename(p) for p in node.parents]
            node.children = [rename(c) for c in node.children]
            node.weak_parents = {rename(p) for p in node.weak_parents}
            node.directory = _join_dir(directory, node.directory)
            node.category = scoped(node.category)
            self.spec.nodes[node.name] = node
            info.nodes.append(node.name)
            if not node.parents:
                info.initial.append(node.name)
            if not node.children:
                info.terminal.append(node.name)
        for service in inner.services.values():
            service.name = rename(service.name)
            service.directory = _join_dir(directory, service.directory)
            self.spec.services[service.name] = service
        if inner.provisioner is not None and self.spec.provisioner is None:
            self.spec.provisioner = rename(inner.provisioner)
        for category, limit in inner.maxjobs.items():
            self.spec.maxjobs.setdefault(scoped(category) or category, limit)
        info.pins_in = {k: [rename(n) for n in v] for k, v in inner.pins_in.items()}
        info.pins_out = {k: [rename(n) for n in v] for k, v in inner.pins_out.items()}
        for sub_name, sub in inner.splices.items():
            self.spec.splices[rename(sub_name)] = SpliceInfo(
                name=rename(sub_name), nodes=[rename(n) for n in sub.nodes],
                initial=[rename(n) for n in sub.initial], terminal=[rename(n) for n in sub.terminal],
                pins_in={k: [rename(n) for n in v] for k, v in sub.pins_in.items()},
                pins_out={k: [rename(n) for n in v] for k, v in sub.pins_out.items()})
        self.spec.notes.extend(inner.notes)
        self.spec.splices[name] = info

    # -- files -----------------------------------------------------------------------------------
    def _cmd_reject(self, line: Line) -> None:
        no_more(line.args(), 0)
        if self.spec.reject is None:
            self.spec.reject = line.where

    def _cmd_dot(self, line: Line) -> None:
        args = line.args()
        if not args:
            raise LineError("No file specified")
        dot = DotConfig(path=unquote(args[0]))
        i = 1
        while i < len(args):
            word = keyword(args[i])
            if word in ("UPDATE", "DONT_UPDATE"):
                dot.update = word == "UPDATE"
            elif word in ("OVERWRITE", "DONT_OVERWRITE"):
                dot.overwrite = word == "OVERWRITE"
            elif word == "INCLUDE":
                if i + 1 >= len(args):
                    raise LineError("Missing INCLUDE header file")
                dot.include = unquote(args[i + 1])
                i += 1
            else:
                raise LineError(f"Unexpected token '{args[i]}'")
            i += 1
        if self.in_splice:
            self.note(line, "DOT inside a splice is ignored")
        elif self.spec.dot is None:
            self.spec.dot = dot

    def _cmd_node_status_file(self, line: Line) -> None:
        args = line.args()
        if not args:
            raise LineError("No file specified")
        interval: int | None = None
        always = False
        for word in args[1:]:
            if keyword(word) == "ALWAYS_UPDATE":
                always = True
            else:
                interval = to_int(word, f"Unexpected token '{word}'")
        if self.in_splice:
            self.note(line, "NODE_STATUS_FILE inside a splice is ignored")
            return
        if self.spec.node_status_file is not None:
            self.note(line, "only the first NODE_STATUS_FILE counts; this one is ignored")
            return
        self.spec.node_status_file = unquote(args[0])
        self.spec.status_always_update = always
        if interval is not None:
            self.spec.status_interval = float(interval)

    def _cmd_jobstate_log(self, line: Line) -> None:
        args = line.args()
        if not args:
            raise LineError("No include file specified")  # [sic], DAGMan's text
        no_more(args, 1)
        if self.spec.jobstate_log is None:
            self.spec.jobstate_log = unquote(args[0])
