"""OpenSCENARIO 1.x: logical scenarios, parameter value distributions and their expansion.

Pure Python (lxml, numpy); no Django.

- :func:`parse_scenario` reads a scenario file: file name, description, global
  ``ParameterDeclarations`` (name, type, default, ``ConstraintGroup``/``ValueConstraint``) and the
  names of its entities. Every ``$name`` used in an attribute (plain references and inside
  ``${...}`` expressions) must be declared somewhere in the file, else :class:`ScenarioError`.
- :func:`load_distribution` reads a ``ParameterValueDistribution`` file and the scenario file it
  names (``ScenarioFile filepath``, relative to the distribution file).
- :func:`expand` turns a distribution into concrete cases: every case is a dict holding a value
  for *every* global parameter of the scenario (the distributed ones and the defaults of the
  others), typed by the declared ``parameterType``. Cases that violate a constraint are dropped
  and counted in :attr:`Expansion.discarded`.
- :func:`evaluate_expression` evaluates ``${...}`` expressions with its own tokenizer and
  recursive-descent parser (no ``eval``): numbers, ``$parameters``, ``true``/``false``,
  unary ``-``, ``+ - * / %``, ``not``/``and``/``or``, parentheses and the functions ``round
  floor ceil sqrt pow sin cos tan asin acos atan sign abs min max``.

Constraint semantics (OpenSCENARIO 1.2): all ``ValueConstraint`` of one ``ConstraintGroup``
must hold; a value is valid when at least one of its groups holds (or it has no group).

XML is parsed from bytes (a UTF-8 BOM is fine) with no DTD loading, no entity resolution and no
network; a document with a DOCTYPE or ENTITY declaration is refused.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from lxml import etree

from compliance.xmlsafe import parse_untrusted

__all__ = [
    "Distribution",
    "Expansion",
    "LogicalScenario",
    "ParameterDeclaration",
    "ScenarioError",
    "ValueConstraint",
    "compile_expression",
    "convert_value",
    "evaluate_expression",
    "expand",
    "load_distribution",
    "parse_scenario",
    "range_values",
    "resolve_value",
]


class ScenarioError(ValueError):
    """An OpenSCENARIO document or expression that cannot be accepted, with the reason."""


# --------------------------------------------------------------------------------------------
# Expressions
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Parameter types and constraints
# --------------------------------------------------------------------------------------------

PARAMETER_TYPES = {
    "integer",
    "int",
    "double",
    "string",
    "unsignedInt",
    "unsignedShort",
    "boolean",
    "dateTime",
}
NUMERIC_TYPES = {"integer", "int", "double", "unsignedInt", "unsignedShort"}
RULES = {"equalTo", "notEqualTo", "greaterThan", "lessThan", "greaterOrEqual", "lessOrEqual"}


def convert_value(value: Any, ptype: str, name: str = "value") -> Any:
    """Convert a literal (usually a string from XML) to the Python type of ``ptype``.

    double -> float (finite), integer/unsignedInt/unsignedShort -> int (an integral float is
    accepted, unsigned ones must be >= 0, unsignedShort <= 65535), boolean -> bool
    (``true``/``false``/``1``/``0``), string and dateTime -> str.
    """
    try:
        if ptype == "double":
            if isinstance(value, bool):
                raise ValueError("boolean")
            out = float(value)
            if not math.isfinite(out):
                raise ValueError("not finite")
            return out
        if ptype in ("integer", "int", "unsignedInt", "unsignedShort"):
            if isinstance(value, bool):
                raise ValueError("boolean")
            if isinstance(value, int):
                out_i = value
            else:
                f = float(value)
                if not f.is_integer():
                    raise ValueError("not an integer")
                out_i = int(f)
            if ptype != "integer" and ptype != "int" and out_i < 0:
                raise ValueError("negative")
            if ptype == "unsignedShort" and out_i > 65535:
                raise ValueError("above 65535")
            return out_i
        if ptype == "boolean":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("true", "1"):
                return True
            if text in ("false", "0"):
                return False
            raise ValueError("not a boolean")
        if ptype in ("string", "dateTime"):
            return str(value)
    except (TypeError, ValueError) as exc:
        raise ScenarioError(f"{name}: {value!r} is not a valid {ptype} ({exc})") from exc
    raise ScenarioError(f"{name}: unknown parameterType {ptype!r}")


@dataclass(frozen=True)
class ValueConstraint:
    """One ``ValueConstraint``: ``rule`` and the raw ``value`` (literal, $ref or expression)."""

    rule: str
    value: str


@dataclass(frozen=True)
class ParameterDeclaration:
    """A global ``ParameterDeclaration`` with its constraint groups (raw attribute strings)."""

    name: str
    type: str
    value: str
    constraint_groups: tuple[tuple[ValueConstraint, ...], ...] = ()


def _compare(rule: str, a: Any, b: Any) -> bool:
    if rule == "equalTo":
        return a == b
    if rule == "notEqualTo":
        return a != b
    if rule == "greaterThan":
        return a > b
    if rule == "lessThan":
        return a < b
    if rule == "greaterOrEqual":
        return a >= b
    return a <= b


@dataclass
class LogicalScenario:
    """A parsed scenario file: what a campaign needs to know about it."""

    file_name: str | None
    path: Path | None
    description: str
    revision: tuple[int, int] | None
    parameters: dict[str, ParameterDeclaration]
    entities: list[str]
    #: every parameter name declared in the file, global or local (stories, catalogs, ...)
    declared: frozenset[str] = frozenset()
    #: every parameter name referenced with ``$`` in the file
    references: frozenset[str] = frozenset()
    _plan: list[tuple[str, str, Any]] = field(default_factory=list, repr=False)
    _checks: list[tuple[str, str, list[list[tuple[str, Any]]]]] = field(
        default_factory=list, repr=False
    )

    def __post_init__(self) -> None:
        # Pre-convert literal defaults and constraint values once; expressions stay compiled.
        for p in self.parameters.values():
            self._plan.append((p.name, p.type, self._prepare(p.value, p.type, p.name)))
            groups = []
            for group in p.constraint_groups:
                groups.append(
                    [
                        (c.rule, self._prepare(c.value, p.type, f"{p.name} constraint"))
                        for c in group
                    ]
                )
            if groups:
                self._checks.append((p.name, p.type, groups))

    @staticmethod
    def _prepare(raw: str, ptype: str, what: str) -> Any:
        if raw.strip().startswith("$"):
            return ("expr", raw)
        return ("lit", convert_value(raw, ptype, what))

    @staticmethod
    def _value(prepared: Any, ptype: str, values: Mapping[str, Any], what: str) -> Any:
        kind, payload = prepared
        if kind == "lit":
            return payload
        result = resolve_value(payload, values)
        if ptype in NUMERIC_TYPES and ptype != "double" and isinstance(result, float):
            result = _round_half_away(result)
        return convert_value(result, ptype, what)

    @staticmethod
    def _bound(prepared: Any, ptype: str, values: Mapping[str, Any], name: str) -> Any:
        """A constraint's value; numeric expressions are compared unrounded."""
        kind, payload = prepared
        if kind == "lit":
            return payload
        result = resolve_value(payload, values)
        if ptype in NUMERIC_TYPES:
            return _number(result, f"{name} constraint value")
        return convert_value(result, ptype, f"{name} constraint")

    def defaults(self) -> dict[str, Any]:
        """Every global parameter at its declared default (typed)."""
        return self.concrete({})

    def concrete(self, assignments: Mapping[str, Any]) -> dict[str, Any]:
        """All global parameters with ``assignments`` applied (typed, in declaration order).

        Defaults that are expressions are evaluated with the values before them. Raises
        :class:`ScenarioError` for an assignment to a parameter the scenario does not declare.
        """
        unknown = [n for n in assignments if n not in self.parameters]
        if unknown:
            raise ScenarioError(
                f"parameter(s) not declared by the scenario: {', '.join(sorted(unknown))}"
            )
        values: dict[str, Any] = {}
        for name, ptype, prepared in self._plan:
            if name in assignments:
                values[name] = convert_value(assignments[name], ptype, name)
            else:
                values[name] = self._value(prepared, ptype, values, name)
        return values

    def violations(self, values: Mapping[str, Any]) -> list[str]:
        """Names of parameters whose value satisfies none of its constraint groups."""
        bad = []
        for name, ptype, groups in self._checks:
            value = values[name]
            ok = False
            for group in groups:
                if all(
                    _compare(rule, value, self._bound(prep, ptype, values, name))
                    for rule, prep in group
                ):
                    ok = True
                    break
            if not ok:
                bad.append(name)
        return bad

    def is_valid(self, values: Mapping[str, Any]) -> bool:
        """True when every constrained parameter satisfies at least one of its groups."""
        return not self.violations(values)


# --------------------------------------------------------------------------------------------
# XML
# --------------------------------------------------------------------------------------------


def _parse_xml(data: bytes, what: str) -> etree._Element:
    """Parse untrusted XML bytes (see :mod:`compliance.xmlsafe`)."""
    root = parse_untrusted(data, what, ScenarioError)
    if root.tag != "OpenSCENARIO":
        raise ScenarioError(f"{what}: root element is {root.tag!r}, not 'OpenSCENARIO'")
    return root


def _read(source: str | Path | bytes, kind: str) -> tuple[bytes, Path | None, str]:
    if isinstance(source, bytes | bytearray):
        return bytes(source), None, f"{kind} bytes"
    path = Path(source)
    try:
        return path.read_bytes(), path, str(path)
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read ({exc})") from exc


def _attr(el: etree._Element, name: str, what: str) -> str:
    value = el.get(name)
    if value is None:
        raise ScenarioError(f"{what}: <{el.tag}> lacks attribute {name!r}")
    return value


def _scenario_from_root(root: etree._Element, path: Path | None, what: str) -> LogicalScenario:
    if root.find("ParameterValueDistribution") is not None:
        raise ScenarioError(f"{what}: is a ParameterValueDistribution, not a scenario")
    header = root.find("FileHeader")
    description = header.get("description", "") if header is not None else ""
    revision = None
    if header is not None and header.get("revMajor") is not None:
        try:
            revision = (int(header.get("revMajor")), int(header.get("revMinor", "0")))
        except ValueError:
            revision = None

    parameters: dict[str, ParameterDeclaration] = {}
    for decl in root.findall("ParameterDeclarations/ParameterDeclaration"):
        name = _attr(decl, "name", what)
        ptype = _attr(decl, "parameterType", what)
        if ptype not in PARAMETER_TYPES:
            raise ScenarioError(f"{what}: parameter {name!r} has unknown type {ptype!r}")
        if name in parameters:
            raise ScenarioError(f"{what}: parameter {name!r} declared twice")
        groups = []
        for group in decl.findall("ConstraintGroup"):
            constraints = []
            for c in group.findall("ValueConstraint"):
                rule = _attr(c, "rule", what)
                if rule not in RULES:
                    raise ScenarioError(f"{what}: parameter {name!r}: unknown rule {rule!r}")
                if ptype not in NUMERIC_TYPES and rule not in ("equalTo", "notEqualTo"):
                    raise ScenarioError(
                        f"{what}: parameter {name!r} of type {ptype} cannot use rule {rule!r}"
                    )
                constraints.append(ValueConstraint(rule, _attr(c, "value", what)))
            if constraints:
                groups.append(tuple(constraints))
        parameters[name] = ParameterDeclaration(
            name, ptype, _attr(decl, "value", what), tuple(groups)
        )

    declared = {d.get("name") for d in root.iter("ParameterDeclaration") if d.get("name")}
    references: set[str] = set()
    for el in root.iter():
        for value in el.attrib.values():
            if "$" in value:
                references |= _references(value)
    for p in parameters.values():
        references |= _references(p.value)
        for group in p.constraint_groups:
            for c in group:
                references |= _references(c.value)
    undeclared = sorted(references - declared)
    if undeclared:
        names = ", ".join(f"${n}" for n in undeclared)
        raise ScenarioError(f"{what}: undeclared parameter(s) referenced: {names}")
    # defaults and constraints may only use global parameters
    for p in parameters.values():
        used = _references(p.value) | {
            r for g in p.constraint_groups for c in g for r in _references(c.value)
        }
        outside = sorted(used - set(parameters))
        if outside:
            names = ", ".join(f"${n}" for n in outside)
            raise ScenarioError(f"{what}: parameter {p.name!r} uses undeclared {names}")

    entities = [
        e.get("name")
        for e in [
            *root.findall("Entities/ScenarioObject"),
            *root.findall("Entities/EntitySelection"),
        ]
        if e.get("name")
    ]
    scenario = LogicalScenario(
        file_name=path.name if path else None,
        path=path,
        description=description,
        revision=revision,
        parameters=parameters,
        entities=entities,
        declared=frozenset(declared),
        references=frozenset(references),
    )
    scenario.defaults()  # defaults must resolve and convert
    return scenario


def parse_scenario(source: str | Path | bytes) -> LogicalScenario:
    """Parse an OpenSCENARIO scenario file (path or bytes); raises :class:`ScenarioError`."""
    data, path, what = _read(source, "scenario")
    return _scenario_from_root(_parse_xml(data, what), path, what)


# --------------------------------------------------------------------------------------------
# Parameter value distributions
# --------------------------------------------------------------------------------------------

RANGE_TOLERANCE = 1e-9


def _clean(value: float) -> float:
    """Drop binary noise of repeated additions (1.1 + 2 * 0.2 -> 1.5, not 1.5000000000000002)."""
    return float(f"{value:.12g}")


def range_values(lower: float, upper: float, step: float) -> list[float]:
    """The values ``lower, lower + step, ...`` up to ``upper`` inclusive.

    The count is ``floor((upper - lower) / step + 1e-9) + 1`` so that an upper limit reached
    up to rounding error is included (0..1 step 0.1 gives 11 values); each value is rounded to
    12 significant digits.
    """
    lower, upper, step = float(lower), float(upper), float(step)
    if not all(math.isfinite(v) for v in (lower, upper, step)):
        raise ScenarioError("range limits and step must be finite")
    if step <= 0.0:
        raise ScenarioError(f"stepWidth must be positive, not {step}")
    if upper < lower:
        raise ScenarioError(f"range upperLimit {upper} is below lowerLimit {lower}")
    count = int(math.floor((upper - lower) / step + RANGE_TOLERANCE)) + 1
    if count > 10_000_000:
        raise ScenarioError(f"range {lower}..{upper} step {step} has too many values")
    return [_clean(lower + k * step) for k in range(count)]


@dataclass(frozen=True)
class StochasticSpec:
    """One ``StochasticDistribution``: parameter, kind and the numbers that define it."""

    parameter: str
    kind: str
    args: dict[str, Any]


@dataclass
class Distribution:
    """A loaded ``ParameterValueDistribution`` with its scenario."""

    path: Path | None
    scenario: LogicalScenario
    #: deterministic dimensions, each a list of alternative assignments (dicts of raw strings)
    dimensions: list[list[dict[str, Any]]] = field(default_factory=list)
    stochastic: list[StochasticSpec] = field(default_factory=list)
    number_of_test_runs: int | None = None
    random_seed: int | None = None

    @property
    def kind(self) -> str:
        return "stochastic" if self.stochastic else "deterministic"

    @property
    def varied(self) -> tuple[str, ...]:
        names: list[str] = []
        for dim in self.dimensions:
            for option in dim:
                names.extend(n for n in option if n not in names)
        names.extend(s.parameter for s in self.stochastic if s.parameter not in names)
        return tuple(names)

    def size(self) -> int:
        """Number of combinations before constraints are checked."""
        if self.stochastic:
            return int(self.number_of_test_runs or 0)
        return math.prod(len(d) for d in self.dimensions) if self.dimensions else 1


@dataclass
class Expansion:
    """Concrete cases of a distribution: kept cases and how many violated constraints."""

    scenario: LogicalScenario
    cases: list[dict[str, Any]]
    discarded: int
    varied: tuple[str, ...] = ()
    seed: int | None = None


def _float_attr(el: etree._Element, name: str, what: str) -> float:
    raw = _attr(el, name, what)
    if raw.strip().startswith("$"):
        raise ScenarioError(f"{what}: parameter references in distributions are not supported")
    try:
        value = float(raw)
    except ValueError as exc:
        raise ScenarioError(f"{what}: {name}={raw!r} is not a number") from exc
    if not math.isfinite(value):
        raise ScenarioError(f"{what}: {name}={raw!r} is not finite")
    return value


def _range(el: etree._Element | None, what: str) -> tuple[float, float] | None:
    if el is None:
        return None
    lo, hi = _float_attr(el, "lowerLimit", what), _float_attr(el, "upperLimit", what)
    if hi < lo:
        raise ScenarioError(f"{what}: Range upperLimit {hi} is below lowerLimit {lo}")
    return lo, hi


def _stochastic_spec(el: etree._Element, what: str) -> StochasticSpec:
    name = _attr(el, "parameterName", what).lstrip("$")
    children = list(el)
    if len(children) != 1:
        raise ScenarioError(f"{what}: StochasticDistribution {name!r} needs one distribution")
    d = children[0]
    tag = d.tag
    label = f"{what}: {name}"
    if tag in ("NormalDistribution", "LogNormalDistribution"):
        variance = _float_attr(d, "variance", label)
        if variance < 0:
            raise ScenarioError(f"{label}: variance must not be negative")
        args = {
            "mean": _float_attr(d, "expectedValue", label),
            "std": math.sqrt(variance),
            "range": _range(d.find("Range"), label),
        }
        return StochasticSpec(name, "normal" if tag == "NormalDistribution" else "lognormal", args)
    if tag == "UniformDistribution":
        rng = _range(d.find("Range"), label)
        if rng is None:
            raise ScenarioError(f"{label}: UniformDistribution needs a Range")
        return StochasticSpec(name, "uniform", {"range": rng})
    if tag == "PoissonDistribution":
        mean = _float_attr(d, "expectedValue", label)
        if mean < 0:
            raise ScenarioError(f"{label}: expectedValue must not be negative")
        return StochasticSpec(
            name, "poisson", {"mean": mean, "range": _range(d.find("Range"), label)}
        )
    if tag == "Histogram":
        bins = []
        for b in d.findall("Bin"):
            r = _range(b.find("Range"), label)
            if r is None:
                raise ScenarioError(f"{label}: histogram bin without Range")
            bins.append((_float_attr(b, "weight", label), r))
        if not bins or sum(w for w, _ in bins) <= 0 or any(w < 0 for w, _ in bins):
            raise ScenarioError(f"{label}: histogram needs bins with non-negative weights")
        return StochasticSpec(name, "histogram", {"bins": bins})
    if tag == "ProbabilityDistributionSet":
        elements = [
            (_attr(e, "value", label), _float_attr(e, "weight", label))
            for e in d.findall("Element")
        ]
        if not elements or sum(w for _, w in elements) <= 0 or any(w < 0 for _, w in elements):
            raise ScenarioError(f"{label}: ProbabilityDistributionSet needs weighted elements")
        return StochasticSpec(name, "set", {"elements": elements})
    raise ScenarioError(f"{label}: unsupported distribution {tag!r}")


def load_distribution(
    source: str | Path | bytes,
    base_dir: str | Path | None = None,
    root: str | Path | None = None,
) -> Distribution:
    """Read a ``ParameterValueDistribution`` file and the scenario it references.

    The ``ScenarioFile filepath`` is resolved relative to the distribution file's folder (or
    ``base_dir`` for bytes). For safety the resolved file must lie inside ``root`` (default: that
    same folder); absolute paths and URLs are refused. Every distributed parameter must be a
    global parameter of the scenario, else :class:`ScenarioError` names it.
    """
    data, path, what = _read(source, "distribution")
    doc = _parse_xml(data, what)
    pvd = doc.find("ParameterValueDistribution")
    if pvd is None:
        raise ScenarioError(f"{what}: no ParameterValueDistribution element")
    sf = pvd.find("ScenarioFile")
    if sf is None:
        raise ScenarioError(f"{what}: no ScenarioFile element")
    ref = _attr(sf, "filepath", what)
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", ref) or Path(ref).is_absolute():
        raise ScenarioError(f"{what}: ScenarioFile must be a relative path, not {ref!r}")
    if base_dir is None:
        if path is None:
            raise ScenarioError(f"{what}: pass base_dir to resolve ScenarioFile {ref!r}")
        base_dir = path.parent
    base = Path(base_dir).resolve()
    limit = Path(root).resolve() if root is not None else base
    scenario_path = (base / ref).resolve()
    if not scenario_path.is_relative_to(limit):
        raise ScenarioError(f"{what}: ScenarioFile {ref!r} lies outside {limit}")
    scenario = parse_scenario(scenario_path)

    dist = Distribution(path=path, scenario=scenario)
    scenario_name = scenario.file_name or "the scenario"
    seen: set[str] = set()

    def claim(names: set[str], label: str) -> None:
        unknown = sorted(n for n in names if n not in scenario.parameters)
        if unknown:
            raise ScenarioError(
                f"{what}: {label} distributes parameter(s) that {scenario_name} does not "
                f"declare: {', '.join(unknown)}"
            )
        twice = sorted(names & seen)
        if twice:
            raise ScenarioError(f"{what}: parameter(s) distributed twice: {', '.join(twice)}")
        seen.update(names)

    det = pvd.find("Deterministic")
    sto = pvd.find("Stochastic")
    if (det is None) == (sto is None):
        raise ScenarioError(f"{what}: needs exactly one of Deterministic or Stochastic")
    if det is not None:
        for el in det:
            if el.tag == "DeterministicSingleParameterDistribution":
                name = _attr(el, "parameterName", what).lstrip("$")
                label = f"parameter {name!r}"
                claim({name}, label)
                ptype = scenario.parameters[name].type
                dset, drange = el.find("DistributionSet"), el.find("DistributionRange")
                if dset is not None:
                    raw = [_attr(e, "value", what) for e in dset.findall("Element")]
                    values = [convert_value(v, ptype, name) for v in raw]
                elif drange is not None:
                    step = _float_attr(drange, "stepWidth", f"{what}: {label}")
                    lim = _range(drange.find("Range"), f"{what}: {label}")
                    if lim is None:
                        raise ScenarioError(f"{what}: {label}: DistributionRange needs a Range")
                    values = [convert_value(v, ptype, name) for v in range_values(*lim, step)]
                else:
                    raise ScenarioError(f"{what}: {label}: unsupported deterministic distribution")
                if not values:
                    raise ScenarioError(f"{what}: {label}: distribution has no values")
                dist.dimensions.append([{name: v} for v in values])
            elif el.tag == "DeterministicMultiParameterDistribution":
                vsd = el.find("ValueSetDistribution")
                if vsd is None:
                    raise ScenarioError(f"{what}: multi-parameter distribution without value sets")
                options = []
                names: set[str] = set()
                for pvs in vsd.findall("ParameterValueSet"):
                    option = {}
                    for pa in pvs.findall("ParameterAssignment"):
                        name = _attr(pa, "parameterRef", what).lstrip("$")
                        option[name] = _attr(pa, "value", what)
                    names |= set(option)
                    options.append(option)
                if not options:
                    raise ScenarioError(f"{what}: ValueSetDistribution without ParameterValueSet")
                claim(names, "a ValueSetDistribution")
                typed = [
                    {n: convert_value(v, scenario.parameters[n].type, n) for n, v in o.items()}
                    for o in options
                ]
                dist.dimensions.append(typed)
            else:
                raise ScenarioError(f"{what}: unsupported element <{el.tag}> in Deterministic")
    else:
        runs = _attr(sto, "numberOfTestRuns", what)
        try:
            dist.number_of_test_runs = int(runs)
        except ValueError as exc:
            raise ScenarioError(f"{what}: numberOfTestRuns={runs!r} is not an integer") from exc
        if dist.number_of_test_runs < 0:
            raise ScenarioError(f"{what}: numberOfTestRuns must not be negative")
        seed = sto.get("randomSeed")
        if seed is not None:
            try:
                dist.random_seed = int(float(seed))
            except ValueError as exc:
                raise ScenarioError(f"{what}: randomSeed={seed!r} is not a number") from exc
        for el in sto.findall("StochasticDistribution"):
            spec = _stochastic_spec(el, what)
            claim({spec.parameter}, f"parameter {spec.parameter!r}")
            dist.stochastic.append(spec)
        if not dist.stochastic:
            raise ScenarioError(f"{what}: Stochastic without StochasticDistribution")
    return dist


def _draw(spec: StochasticSpec, n: int, rng: np.random.Generator, ptype: str) -> list[Any]:
    """``n`` values of one stochastic distribution (rejection sampling inside a Range)."""
    kind, a = spec.kind, spec.args
    if kind == "set":
        weights = np.array([w for _, w in a["elements"]], dtype=float)
        idx = rng.choice(len(weights), size=n, p=weights / weights.sum())
        return [convert_value(a["elements"][i][0], ptype, spec.parameter) for i in idx.tolist()]
    if ptype not in NUMERIC_TYPES:
        raise ScenarioError(f"{spec.parameter}: a {kind} distribution needs a numeric parameter")
    if kind == "uniform":
        lo, hi = a["range"]
        out = rng.uniform(lo, hi, size=n)
    elif kind == "histogram":
        weights = np.array([w for w, _ in a["bins"]], dtype=float)
        which = rng.choice(len(weights), size=n, p=weights / weights.sum())
        lows = np.array([r[0] for _, r in a["bins"]])[which]
        highs = np.array([r[1] for _, r in a["bins"]])[which]
        out = lows + (highs - lows) * rng.random(n)
    else:

        def sample(k: int) -> np.ndarray:
            if kind == "normal":
                return rng.normal(a["mean"], a["std"], size=k)
            if kind == "lognormal":
                return rng.lognormal(a["mean"], a["std"], size=k)
            return rng.poisson(a["mean"], size=k).astype(float)

        out = np.empty(0)
        for _ in range(1000):
            if out.size >= n:
                break
            batch = sample(max(n - out.size, 16) * 2)
            if a["range"] is not None:
                lo, hi = a["range"]
                batch = batch[(batch >= lo) & (batch <= hi)]
            out = np.concatenate([out, batch])
        if out.size < n:
            raise ScenarioError(f"{spec.parameter}: Range keeps too few {kind} samples")
        out = out[:n]
    values = []
    for v in out.tolist():
        if ptype != "double":
            v = _round_half_away(v)
        values.append(convert_value(v, ptype, spec.parameter))
    return values


def _iter_assignments(dist: Distribution, seed: int | None) -> Iterator[dict[str, Any]]:
    if dist.stochastic:
        n = int(dist.number_of_test_runs or 0)
        rng = np.random.default_rng(seed)
        columns = {
            s.parameter: _draw(s, n, rng, dist.scenario.parameters[s.parameter].type)
            for s in dist.stochastic
        }
        for i in range(n):
            yield {name: col[i] for name, col in columns.items()}
        return
    for combo in itertools.product(*dist.dimensions):
        merged: dict[str, Any] = {}
        for option in combo:
            merged.update(option)
        yield merged


def expand(
    source: Distribution | str | Path | bytes,
    seed: int | None = None,
    max_cases: int = 1_000_000,
    base_dir: str | Path | None = None,
) -> Expansion:
    """Concrete cases of a distribution (or the single default case of a plain scenario).

    Deterministic distributions combine as a cartesian product, in document order with the last
    distribution varying fastest; each ``ParameterValueSet`` of a multi-parameter distribution
    is one alternative. Stochastic distributions draw ``numberOfTestRuns`` cases with numpy's
    PCG64 seeded by ``seed`` if given, else the file's ``randomSeed``, else 0; parameters are
    drawn one after the other in document order, so the same seed gives the same cases. Every
    case holds all global parameters of the scenario (defaults for the undistributed ones);
    cases violating the scenario's constraints are discarded and counted. Raises
    :class:`ScenarioError` beyond ``max_cases`` combinations.
    """
    if isinstance(source, Distribution):
        dist = source
    else:
        data, path, what = _read(source, "OpenSCENARIO")
        doc = _parse_xml(data, what)
        if doc.find("ParameterValueDistribution") is None:
            scenario = _scenario_from_root(doc, path, what)
            values = scenario.defaults()
            ok = scenario.is_valid(values)
            return Expansion(scenario, [values] if ok else [], 0 if ok else 1)
        dist = load_distribution(data if path is None else path, base_dir=base_dir)
    total = dist.size()
    if total > max_cases:
        raise ScenarioError(f"distribution has {total} combinations, more than {max_cases}")
    used_seed = None
    if dist.stochastic:
        used_seed = seed if seed is not None else (dist.random_seed or 0)
    scenario = dist.scenario
    cases: list[dict[str, Any]] = []
    discarded = 0
    for assignment in _iter_assignments(dist, used_seed):
        values = scenario.concrete(assignment)
        if scenario.is_valid(values):
            cases.append(values)
        else:
            discarded += 1
    return Expansion(scenario, cases, discarded, dist.varied, used_seed)
