"""The small subset of Argo's expression language (expr-lang) that retry strategies of the pack use.

Supported: literals (integers, floats, 'single' or "double" quoted strings, true, false, nil), identifiers with
dots (`lastRetry.exitCode`, `lastRetry.status`, `lastRetry.duration`, `lastRetry.message`, `retries`), calls of
`asInt`, `asFloat`, `int`, `float`, `string`, list literals `[a, b]`, the operators `== != < <= > >= in`,
`not in`, `&& || ! and or not`, `+ -` on numbers, and parentheses. Anything else fails with an
`ExpressionError` when the expression is parsed, i.e. before the workflow runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Value = Any


class ExpressionError(ValueError):
    """An expression outside the supported subset, or one that fails to evaluate."""


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<num>\d+\.\d+|\d+)
    | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<op>==|!=|<=|>=|&&|\|\||[<>!()\[\],+\-])
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ExpressionError(f"unsupported syntax at offset {pos}: {text[pos:]!r}")
        kind = match.lastgroup or ""
        tokens.append(_Tok(kind, match.group(kind), match.start(kind)))
        pos = match.end()
    return tokens


def _to_int(value: Value) -> int:
    try:
        return int(str(value).strip())
    except ValueError as exc:
        raise ExpressionError(f"asInt: {value!r} is not an integer") from exc


def _to_float(value: Value) -> float:
    try:
        return float(str(value).strip())
    except ValueError as exc:
        raise ExpressionError(f"asFloat: {value!r} is not a number") from exc


def _to_string(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


FUNCTIONS: Mapping[str, Callable[[Value], Value]] = {
    "asInt": _to_int,
    "int": _to_int,
    "asFloat": _to_float,
    "float": _to_float,
    "string": _to_string,
}

Node = tuple[Any, ...]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self) -> _Tok | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, text: str | None = None) -> _Tok:
        tok = self.peek()
        if tok is None or (text is not None and tok.text != text):
            want = repr(text) if text else "a value"
            got = repr(tok.text) if tok else "the end"
            raise ExpressionError(f"expected {want}, got {got} in {self.text!r}")
        self.i += 1
        return tok

    def at(self, *texts: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind in ("op", "name") and tok.text in texts

    def parse(self) -> Node:
        node = self.or_()
        if self.peek() is not None:
            raise ExpressionError(f"unexpected {self.peek().text!r} in {self.text!r}")  # type: ignore[union-attr]
        return node

    def or_(self) -> Node:
        node = self.and_()
        while self.at("||", "or"):
            self.take()
            node = ("or", node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self.at("&&", "and"):
            self.take()
            node = ("and", node, self.not_())
        return node

    def not_(self) -> Node:
        if self.at("!", "not"):
            self.take()
            return ("not", self.not_())
        return self.compare()

    def compare(self) -> Node:
        node = self.additive()
        if self.at("==", "!=", "<", "<=", ">", ">=", "in"):
            op = self.take().text
            return ("cmp", op, node, self.additive())
        if self.at("not"):
            self.take()
            self.take("in")
            return ("not", ("cmp", "in", node, self.additive()))
        return node

    def additive(self) -> Node:
        node = self.unary()
        while self.at("+", "-"):
            op = self.take().text
            node = ("arith", op, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.at("-"):
            self.take()
            return ("arith", "-", ("lit", 0), self.unary())
        return self.primary()

    def primary(self) -> Node:
        tok = self.take()
        if tok.kind == "num":
            return ("lit", float(tok.text) if "." in tok.text else int(tok.text))
        if tok.kind == "str":
            body = tok.text[1:-1]
            return ("lit", re.sub(r"\\(.)", r"\1", body))
        if tok.text == "(":
            node = self.or_()
            self.take(")")
            return node
        if tok.text == "[":
            items: list[Node] = []
            while not self.at("]"):
                items.append(self.or_())
                if not self.at("]"):
                    self.take(",")
            self.take("]")
            return ("list", *items)
        if tok.kind == "name":
            if tok.text in ("true", "false"):
                return ("lit", tok.text == "true")
            if tok.text == "nil":
                return ("lit", None)
            if self.at("("):
                if tok.text not in FUNCTIONS:
                    raise ExpressionError(
                        f"function {tok.text}() is not supported by the local runner "
                        f"(supported: {', '.join(sorted(FUNCTIONS))})"
                    )
                self.take("(")
                arg = self.or_()
                self.take(")")
                return ("call", tok.text, arg)
            return ("var", tok.text)
        raise ExpressionError(f"unexpected {tok.text!r} in {self.text!r}")


@dataclass(frozen=True)
class Expression:
    """A parsed expression; `names` are the variables it reads."""

    text: str
    tree: Node

    @property
    def names(self) -> set[str]:
        found: set[str] = set()

        def walk(node: Node) -> None:
            if node[0] == "var":
                found.add(node[1])
            for part in node[1:]:
                if isinstance(part, tuple):
                    walk(part)

        walk(self.tree)
        return found

    def evaluate(self, scope: Mapping[str, Value]) -> Value:
        return _eval(self.tree, scope)


def parse(text: str, allowed_names: set[str] | None = None) -> Expression:
    expression = Expression(text, _Parser(text).parse())
    if allowed_names is not None:
        unknown = sorted(expression.names - allowed_names)
        if unknown:
            raise ExpressionError(
                f"unknown variable(s) {', '.join(unknown)} (available: {', '.join(sorted(allowed_names))})"
            )
    return expression


def _eval(node: Node, scope: Mapping[str, Value]) -> Value:
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "var":
        if node[1] not in scope:
            raise ExpressionError(f"unknown variable {node[1]}")
        return scope[node[1]]
    if kind == "list":
        return [_eval(n, scope) for n in node[1:]]
    if kind == "call":
        return FUNCTIONS[node[1]](_eval(node[2], scope))
    if kind == "not":
        return not _truth(_eval(node[1], scope))
    if kind == "and":
        return _truth(_eval(node[1], scope)) and _truth(_eval(node[2], scope))
    if kind == "or":
        return _truth(_eval(node[1], scope)) or _truth(_eval(node[2], scope))
    if kind == "arith":
        left, right = _eval(node[2], scope), _eval(node[3], scope)
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (left, right)):
            raise ExpressionError(f"{node[1]} needs numbers, got {left!r} and {right!r}")
        return left + right if node[1] == "+" else left - right
    if kind == "cmp":
        op, left, right = node[1], _eval(node[2], scope), _eval(node[3], scope)
        if op == "in":
            if not isinstance(right, list):
                raise ExpressionError(f"'in' needs a list on the right, got {right!r}")
            return left in right
        if op == "==":
            return bool(left == right)
        if op == "!=":
            return bool(left != right)
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (left, right))
        if not numeric and not (isinstance(left, str) and isinstance(right, str)):
            raise ExpressionError(f"{op} cannot compare {left!r} and {right!r}")
        if op == "<":
            return bool(left < right)
        if op == "<=":
            return bool(left <= right)
        if op == ">":
            return bool(left > right)
        return bool(left >= right)
    raise ExpressionError(f"unsupported node {kind}")


def _truth(value: Value) -> bool:
    if not isinstance(value, bool):
        raise ExpressionError(f"expected a boolean, got {value!r}")
    return value


def evaluate_bool(expression: Expression, scope: Mapping[str, Value]) -> bool:
    return _truth(expression.evaluate(scope))
