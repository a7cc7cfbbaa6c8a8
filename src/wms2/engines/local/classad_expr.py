"""A small ClassAd expression evaluator for the clauses WMS2 writes in ``requirements`` and
``periodic_remove``: literals (string, int, real, bool, undefined, lists), attribute references
(bare, ``MY.``, ``TARGET.``), ``! - * / % + - < <= > >= == != =?= =!= && || ?:``, parentheses and
the functions ``member``, ``stringListMember``, ``stringListIMember``, ``ifThenElse``,
``isUndefined``, ``regexp``, ``time``, ``size``.  Three-valued logic as in HTCondor: comparisons with
UNDEFINED are UNDEFINED, ``=?=``/``=!=`` never are, ``&&``/``||`` short-circuit on FALSE/TRUE.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

MAX_DEPTH = 64  # attribute-reference recursion guard


class _Undefined:
    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False


UNDEFINED = _Undefined()


class ExprError(ValueError):
    pass


Node = tuple[Any, ...]
_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+\.\d*(?:[eE][-+]?\d+)?|\d+)|(?P<str>\"(?:[^\"\\]|\\.)*\")"
    r"|(?P<id>[A-Za-z_][A-Za-z0-9_.]*)|(?P<op>=\?=|=!=|==|!=|<=|>=|&&|\|\||[-+*/%<>!(),?:{}]))"
)
_BINARY = {
    "||": 2, "&&": 3, "==": 4, "!=": 4, "=?=": 4, "=!=": 4,
    "<": 5, "<=": 5, ">": 5, ">=": 5, "+": 6, "-": 6, "*": 7, "/": 7, "%": 7,
}


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ExprError(f"cannot parse ClassAd expression at {text[pos:pos + 20]!r} in {text!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            raise ExprError(f"expected {value or 'a token'} in {self.text!r}")
        self.i += 1
        return tok

    def parse(self) -> Node:
        node = self.expr(0)
        if self.peek() is not None:
            raise ExprError(f"unexpected {self.peek()[1]!r} in {self.text!r}")  # type: ignore[index]
        return node

    def expr(self, min_prec: int) -> Node:
        left = self.unary()
        while True:
            tok = self.peek()
            if tok is None or tok[0] != "op":
                return left
            op = tok[1]
            if op == "?" and min_prec <= 1:
                self.take()
                yes = self.expr(0)
                self.take(":")
                no = self.expr(1)
                left = ("cond", left, yes, no)
                continue
            prec = _BINARY.get(op)
            if prec is None or prec < min_prec:
                return left
            self.take()
            right = self.expr(prec + 1)
            left = ("bin", op, left, right)

    def unary(self) -> Node:
        tok = self.take()
        kind, value = tok
        if kind == "op" and value in ("!", "-", "+"):
            return ("un", value, self.unary())
        if kind == "op" and value == "(":
            node = self.expr(0)
            self.take(")")
            return node
        if kind == "op" and value == "{":
            items: list[Node] = []
            if self.peek() != ("op", "}"):
                items.append(self.expr(0))
                while self.peek() == ("op", ","):
                    self.take()
                    items.append(self.expr(0))
            self.take("}")
            return ("list", items)
        if kind == "num":
            return ("lit", float(value) if "." in value else int(value))
        if kind == "str":
            return ("lit", re.sub(r"\\(.)", r"\1", value[1:-1]))
        if kind == "id":
            return self.identifier(value)
        raise ExprError(f"unexpected {value!r} in {self.text!r}")

    def identifier(self, value: str) -> Node:
        low = value.lower()
        if low in ("true", "false"):
            return ("lit", low == "true")
        if low in ("undefined", "error"):
            return ("lit", UNDEFINED)
        if self.peek() == ("op", "("):
            self.take()
            args: list[Node] = []
            if self.peek() != ("op", ")"):
                args.append(self.expr(0))
                while self.peek() == ("op", ","):
                    self.take()
                    args.append(self.expr(0))
            self.take(")")
            return ("call", low, args)
        scope, _, name = value.rpartition(".")
        scope = scope.lower()
        if scope not in ("", "my", "target"):
            raise ExprError(f"unsupported attribute scope in {value!r}")
        return ("attr", scope, name.lower())


_CACHE: dict[str, Node] = {}


def parse_expr(text: str) -> Node:
    node = _CACHE.get(text)
    if node is None:
        node = _Parser(text).parse()
        _CACHE[text] = node
    return node


class ClassAd:
    """Attributes as expressions; ``from_literals`` builds one from Python values."""

    def __init__(self, exprs: Mapping[str, str] | None = None) -> None:
        self._nodes: dict[str, Node] = {}
        self._names: dict[str, str] = {}
        self._texts: dict[str, str] = {}
        for key, text in (exprs or {}).items():
            self.set_expr(key, text)

    @classmethod
    def from_literals(cls, values: Mapping[str, Any]) -> ClassAd:
        ad = cls()
        for key, value in values.items():
            ad.set_value(key, value)
        return ad

    def set_expr(self, key: str, text: str) -> None:
        self._nodes[key.lower()] = parse_expr(text)
        self._names[key.lower()] = key
        self._texts[key.lower()] = text.strip()

    def set_value(self, key: str, value: Any) -> None:
        self._nodes[key.lower()] = ("lit", value)
        self._names[key.lower()] = key
        self._texts[key.lower()] = unparse(("lit", value))

    def node(self, key: str) -> Node | None:
        return self._nodes.get(key.lower())

    def __contains__(self, key: str) -> bool:
        return key.lower() in self._nodes

    def eval(self, key: str, target: ClassAd | None = None) -> Any:
        node = self.node(key)
        return UNDEFINED if node is None else evaluate(node, self, target)

    def render(self) -> str:
        """HTCondor "long" format: one ``Attr = value`` line per attribute."""
        return "".join(f"{self._names[k]} = {self._texts[k]}\n" for k in self._nodes)


def unparse(node: Node) -> str:
    kind = node[0]
    if kind == "lit":
        value = node[1]
        if value is UNDEFINED:
            return "undefined"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(value, list):
            return "{ " + ", ".join(unparse(("lit", v)) for v in value) + " }"
        return str(value)
    if kind == "attr":
        return f"{node[1].upper()}.{node[2]}" if node[1] else node[2]
    if kind == "un":
        return f"{node[1]}{unparse(node[2])}"
    if kind == "bin":
        return f"({unparse(node[2])} {node[1]} {unparse(node[3])})"
    if kind == "cond":
        return f"({unparse(node[1])} ? {unparse(node[2])} : {unparse(node[3])})"
    if kind == "list":
        return "{ " + ", ".join(unparse(n) for n in node[1]) + " }"
    return f"{node[1]}(" + ", ".join(unparse(a) for a in node[2]) + ")"


def _lookup(node: Node, my: ClassAd | None, target: ClassAd | None, depth: int) -> Any:
    scope, name = node[1], node[2]
    order = {"my": (my, target), "target": (target, my), "": (my, target)}[scope]
    home = order[0]
    other = order[1]
    if home is not None and (expr := home.node(name)) is not None:
        return _eval(expr, home, other, depth + 1)
    if scope == "" and other is not None and (expr := other.node(name)) is not None:
        return _eval(expr, other, home, depth + 1)
    return UNDEFINED


def _is_num(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) or isinstance(v, bool)


def _compare(op: str, a: Any, b: Any) -> Any:
    if op in ("=?=", "=!="):
        same = type(a) is type(b) and a == b  # strict: no type promotion, case-sensitive
        return same if op == "=?=" else not same
    if a is UNDEFINED or b is UNDEFINED:
        return UNDEFINED
    if isinstance(a, str) and isinstance(b, str):
        a, b = a.lower(), b.lower()
    elif isinstance(a, str) != isinstance(b, str):
        return UNDEFINED  # ERROR in HTCondor; never true
    return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _arith(op: str, a: Any, b: Any) -> Any:
    if not (_is_num(a) and _is_num(b)):
        return UNDEFINED
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0:
        return UNDEFINED  # ERROR in HTCondor
    both_int = isinstance(a, int) and isinstance(b, int)
    if op == "/":
        return int(a / b) if both_int else a / b  # C semantics: truncate toward zero
    return int(math.fmod(a, b)) if both_int else math.fmod(a, b)


def _as_bool(v: Any) -> Any:
    """Booleans as they are, numbers non-zero = TRUE; anything else UNDEFINED (ERROR in HTCondor)."""
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return v != 0
    return UNDEFINED


def _logic(op: str, left: Node, right: Node, my: ClassAd | None, target: ClassAd | None, depth: int) -> Any:
    a = _as_bool(_eval(left, my, target, depth))
    if op == "&&" and a is False:
        return False
    if op == "||" and a is True:
        return True
    b = _as_bool(_eval(right, my, target, depth))
    if op == "&&":
        if b is False:
            return False
        return UNDEFINED if UNDEFINED in (a, b) else True
    if b is True:
        return True
    return UNDEFINED if UNDEFINED in (a, b) else False


def _string_list(value: Any) -> list[str]:
    return [s.strip() for s in str(value).split(",") if s.strip()]


_FUNCS: dict[str, Callable[[list[Any]], Any]] = {
    "member": lambda a: UNDEFINED if a[0] is UNDEFINED or not isinstance(a[1], list)
    else any(_compare("==", a[0], x) is True for x in a[1]),
    "stringlistmember": lambda a: UNDEFINED if UNDEFINED in a[:2] else str(a[0]) in _string_list(a[1]),
    "stringlistimember": lambda a: UNDEFINED if UNDEFINED in a[:2]
    else str(a[0]).lower() in [s.lower() for s in _string_list(a[1])],
    "isundefined": lambda a: a[0] is UNDEFINED,
    "regexp": lambda a: UNDEFINED if UNDEFINED in a[:2] else re.search(str(a[0]), str(a[1])) is not None,
    "time": lambda a: int(time.time()),
    "size": lambda a: len(a[0]) if isinstance(a[0], (str, list)) else UNDEFINED,
}


def _eval(node: Node, my: ClassAd | None, target: ClassAd | None, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        return UNDEFINED
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "attr":
        return _lookup(node, my, target, depth)
    if kind == "un":
        v = _eval(node[2], my, target, depth)
        if v is UNDEFINED:
            return UNDEFINED
        if node[1] == "!":
            b = _as_bool(v)
            return UNDEFINED if b is UNDEFINED else not b
        return -v if node[1] == "-" and _is_num(v) else v
    if kind == "bin":
        op = node[1]
        if op in ("&&", "||"):
            return _logic(op, node[2], node[3], my, target, depth)
        a, b = _eval(node[2], my, target, depth), _eval(node[3], my, target, depth)
        return _arith(op, a, b) if op in "+-*/%" else _compare(op, a, b)
    if kind == "cond":
        c = _as_bool(_eval(node[1], my, target, depth))
        if c is UNDEFINED:
            return UNDEFINED
        return _eval(node[2] if c else node[3], my, target, depth)
    if kind == "list":
        return [_eval(n, my, target, depth) for n in node[1]]
    name, args = node[1], node[2]
    if name == "ifthenelse":
        c = _as_bool(_eval(args[0], my, target, depth))
        return UNDEFINED if c is UNDEFINED else _eval(args[1] if c else args[2], my, target, depth)
    func = _FUNCS.get(name)
    if func is None:
        raise ExprError(f"unsupported ClassAd function {name}()")
    return func([_eval(a, my, target, depth) for a in args])


def evaluate(node: Node | str, my: ClassAd | None = None, target: ClassAd | None = None) -> Any:
    if isinstance(node, str):
        node = parse_expr(node)
    return _eval(node, my, target)
