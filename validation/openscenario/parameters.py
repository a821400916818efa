"""Parameter declarations: types, value constraints and the logical scenario they belong to."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from validation.openscenario.errors import ScenarioError
from validation.openscenario.expressions import _number, _round_half_away, resolve_value

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


@dataclass(frozen=True)
class CatalogReferenceSpec:
    """A ``CatalogReference`` as written: catalog name, entry name and raw assignments
    (entry parameter name -> value as written: a literal, ``$name`` or ``${...}``)."""

    catalog: str
    entry: str
    assignments: tuple[tuple[str, str], ...] = ()


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
    #: every ``CatalogReference`` in the file, in document order
    catalog_references: tuple[CatalogReferenceSpec, ...] = ()
    #: ``CatalogLocations``: catalog type -> directories as written (relative to the file)
    catalog_locations: dict[str, tuple[str, ...]] = field(default_factory=dict)
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
