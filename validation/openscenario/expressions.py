"""``${...}`` expressions: a tokenizer and a recursive-descent parser (no ``eval``).

Also how a parameter value is resolved (a literal, a ``$reference`` or an expression) and which
parameters it references.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from validation.openscenario.errors import ScenarioError

MAX_EXPRESSION_LENGTH = 2000
MAX_EXPRESSION_DEPTH = 64

_TOKEN_RE = re.compile(
    r"\s*(?:"
    r"(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<param>\$[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>[-+*/%(),])"
    r")"
)


def _round_half_away(x: float) -> float:
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def _sqrt(x: float) -> float:
    if x < 0:
        raise ScenarioError(f"sqrt of a negative number ({x})")
    return math.sqrt(x)


def _pow(x: float, y: float) -> float:
    try:
        result = math.pow(x, y)
    except (OverflowError, ValueError) as exc:
        raise ScenarioError(f"pow({x}, {y}) is not a real number") from exc
    return result


def _checked(fn: Callable[[float], float], name: str) -> Callable[[float], float]:
    def wrapper(x: float) -> float:
        try:
            return fn(x)
        except ValueError as exc:
            raise ScenarioError(f"{name}({x}) is outside the function's domain") from exc

    return wrapper


#: Functions allowed in expressions: name -> (callable, number of arguments).
FUNCTIONS: dict[str, tuple[Callable[..., float], int]] = {
    "round": (_round_half_away, 1),
    "floor": (lambda x: float(math.floor(x)), 1),
    "ceil": (lambda x: float(math.ceil(x)), 1),
    "sqrt": (_sqrt, 1),
    "pow": (_pow, 2),
    "sin": (math.sin, 1),
    "cos": (math.cos, 1),
    "tan": (math.tan, 1),
    "asin": (_checked(math.asin, "asin"), 1),
    "acos": (_checked(math.acos, "acos"), 1),
    "atan": (math.atan, 1),
    "sign": (lambda x: float((x > 0) - (x < 0)), 1),
    "abs": (abs, 1),
    "min": (min, 2),
    "max": (max, 2),
}

_KEYWORDS = {"not", "and", "or", "true", "false"}


def _tokenize(text: str) -> list[tuple[str, str]]:
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ScenarioError(f"expression longer than {MAX_EXPRESSION_LENGTH} characters")
    tokens: list[tuple[str, str]] = []
    pos = 0
    end = len(text.rstrip())
    while pos < end:
        m = _TOKEN_RE.match(text, pos)
        if m is None or m.end() == pos:
            raise ScenarioError(f"unexpected character {text[pos]!r} at {pos} in {text!r}")
        kind = m.lastgroup
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens


class _Parser:
    """Recursive descent over the tokens; produces a tuple tree."""

    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise ScenarioError(f"unexpected end of expression {self.text!r}")
        self.i += 1
        return tok

    def accept(self, kind: str, value: str) -> bool:
        tok = self.peek()
        if tok == (kind, value):
            self.i += 1
            return True
        return False

    def expect(self, kind: str, value: str) -> None:
        if not self.accept(kind, value):
            tok = self.peek()
            found = tok[1] if tok else "end of expression"
            raise ScenarioError(f"expected {value!r}, found {found!r} in {self.text!r}")

    def parse(self) -> tuple:
        if not self.tokens:
            raise ScenarioError("empty expression")
        tree = self.or_expr()
        if self.peek() is not None:
            raise ScenarioError(f"unexpected {self.peek()[1]!r} in {self.text!r}")
        return tree

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_EXPRESSION_DEPTH:
            raise ScenarioError(f"expression nested deeper than {MAX_EXPRESSION_DEPTH}")

    def or_expr(self) -> tuple:
        left = self.and_expr()
        while self.accept("name", "or"):
            left = ("or", left, self.and_expr())
        return left

    def and_expr(self) -> tuple:
        left = self.not_expr()
        while self.accept("name", "and"):
            left = ("and", left, self.not_expr())
        return left

    def not_expr(self) -> tuple:
        if self.accept("name", "not"):
            self.nest()
            inner = self.not_expr()
            self.depth -= 1
            return ("not", inner)
        return self.additive()

    def additive(self) -> tuple:
        left = self.term()
        while (tok := self.peek()) is not None and tok[0] == "op" and tok[1] in "+-":
            self.i += 1
            left = ("bin", tok[1], left, self.term())
        return left

    def term(self) -> tuple:
        left = self.unary()
        while (tok := self.peek()) is not None and tok[0] == "op" and tok[1] in "*/%":
            self.i += 1
            left = ("bin", tok[1], left, self.unary())
        return left

    def unary(self) -> tuple:
        if self.accept("op", "-"):
            self.nest()
            inner = self.unary()
            self.depth -= 1
            return ("neg", inner)
        if self.accept("op", "+"):
            return self.unary()
        return self.primary()

    def primary(self) -> tuple:
        kind, value = self.take()
        if kind == "num":
            return ("num", float(value))
        if kind == "param":
            return ("param", value[1:])
        if kind == "op" and value == "(":
            self.nest()
            inner = self.or_expr()
            self.expect("op", ")")
            self.depth -= 1
            return inner
        if kind == "name":
            if value in ("true", "false"):
                return ("bool", value == "true")
            if value in FUNCTIONS:
                fn, arity = FUNCTIONS[value]
                self.expect("op", "(")
                self.nest()
                args = [self.or_expr()]
                while self.accept("op", ","):
                    args.append(self.or_expr())
                self.expect("op", ")")
                self.depth -= 1
                if len(args) != arity:
                    raise ScenarioError(f"{value}() takes {arity} argument(s), got {len(args)}")
                return ("call", value, tuple(args))
            if value in _KEYWORDS:
                raise ScenarioError(f"misplaced {value!r} in {self.text!r}")
            raise ScenarioError(f"unknown name {value!r} in {self.text!r} (parameters need a $)")
        raise ScenarioError(f"unexpected {value!r} in {self.text!r}")


def _params_of(tree: tuple) -> set[str]:
    kind = tree[0]
    if kind == "param":
        return {tree[1]}
    if kind in ("num", "bool"):
        return set()
    if kind in ("neg", "not"):
        return _params_of(tree[1])
    if kind in ("and", "or"):
        return _params_of(tree[1]) | _params_of(tree[2])
    if kind == "bin":
        return _params_of(tree[2]) | _params_of(tree[3])
    return set().union(*(_params_of(a) for a in tree[2]))


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    raise ScenarioError(f"{what} is {value!r}, not a number")


def _truth(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    return _number(value, what) != 0.0


def _eval(tree: tuple, values: Mapping[str, Any]) -> Any:
    kind = tree[0]
    if kind in ("num", "bool"):
        return tree[1]
    if kind == "param":
        name = tree[1]
        if name not in values:
            raise ScenarioError(f"undeclared parameter ${name}")
        return values[name]
    if kind == "neg":
        return -_number(_eval(tree[1], values), "operand of unary -")
    if kind == "not":
        return not _truth(_eval(tree[1], values), "operand of not")
    if kind == "and":
        return _truth(_eval(tree[1], values), "operand of and") and _truth(
            _eval(tree[2], values), "operand of and"
        )
    if kind == "or":
        return _truth(_eval(tree[1], values), "operand of or") or _truth(
            _eval(tree[2], values), "operand of or"
        )
    if kind == "bin":
        op = tree[1]
        a = _number(_eval(tree[2], values), f"left operand of {op}")
        b = _number(_eval(tree[3], values), f"right operand of {op}")
        if op == "+":
            result = a + b
        elif op == "-":
            result = a - b
        elif op == "*":
            result = a * b
        else:
            if b == 0.0:
                raise ScenarioError("division by zero in expression")
            result = a / b if op == "/" else math.fmod(a, b)
        if not math.isfinite(result):
            raise ScenarioError("expression result is not finite")
        return result
    name, args = tree[1], tree[2]
    fn = FUNCTIONS[name][0]
    result = fn(*(_number(_eval(a, values), f"argument of {name}") for a in args))
    if not math.isfinite(result):
        raise ScenarioError(f"{name}() result is not finite")
    return float(result)


@dataclass(frozen=True)
class Expression:
    """A parsed expression: its text, its syntax tree and the parameters it references."""

    text: str
    tree: tuple
    params: frozenset[str]

    def evaluate(self, values: Mapping[str, Any]) -> float | bool | str:
        """Value for ``values`` (parameter name without ``$`` -> value).

        A bare ``$name`` returns the parameter's value unchanged (also strings); anything else
        computes in floating point (booleans from ``not``/``and``/``or`` stay booleans).
        """
        return _eval(self.tree, values)


@functools.lru_cache(maxsize=4096)
def compile_expression(text: str) -> Expression:
    """Parse an expression, with or without its ``${`` ``}`` wrapper; raises ScenarioError."""
    body = text.strip()
    if body.startswith("${") and body.endswith("}"):
        body = body[2:-1]
    tree = _Parser(body).parse()
    return Expression(text, tree, frozenset(_params_of(tree)))


def evaluate_expression(text: str, values: Mapping[str, Any]) -> float | bool | str:
    """Evaluate an OpenSCENARIO expression such as ``${($A + $B) / 3.6}`` (or without wrapper).

    ``values`` maps parameter names (without ``$``) to values. Raises :class:`ScenarioError` for
    syntax errors, unknown names or functions, undeclared parameters (naming them), strings in
    arithmetic, division by zero and non-finite results.
    """
    return compile_expression(text).evaluate(values)


def resolve_value(text: str, values: Mapping[str, Any]) -> Any:
    """An attribute value: ``${expr}`` is evaluated, ``$name`` looked up, anything else kept."""
    stripped = text.strip()
    if stripped.startswith("${"):
        if not stripped.endswith("}"):
            raise ScenarioError(f"unterminated expression {text!r}")
        return evaluate_expression(stripped, values)
    if stripped.startswith("$"):
        name = stripped[1:]
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ScenarioError(f"bad parameter reference {text!r}")
        if name not in values:
            raise ScenarioError(f"undeclared parameter ${name}")
        return values[name]
    return text


_REF_IN_EXPR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def _references(value: str) -> set[str]:
    """Names a ``$name`` or ``${...}`` attribute value references (nothing for literals)."""
    stripped = value.strip()
    if stripped.startswith("${"):
        return set(_REF_IN_EXPR.findall(stripped))
    m = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", stripped)
    return {m.group(1)} if m else set()
