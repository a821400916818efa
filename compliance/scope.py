"""The applicability scope of an acceptance criterion: which test cases it speaks about.

A scope is a JSON object with up to three keys, each optional; an empty object is a criterion
about every case. A case is inside the scope only when it meets every key given:

- ``scenarios``: names of logical scenarios, or scenario classes, e.g. ``["CCRs"]``. A case
  matches by its scenario's name or by its ``scenario`` parameter (the simulator's class, e.g.
  ``ccrs``), compared without regard to case.
- ``parameters``: ``{name: [low, high]}``, inclusive bounds in the units of the scenario's
  parameter (the demo's ``ego_speed`` is in km/h); ``null`` leaves an end open, e.g.
  ``{"ego_speed": [20, 50]}`` or ``{"ego_speed": [null, 40]}``. A case without a numeric
  value for the parameter is outside.
- ``odd``: ODD conditions ``{dimension: [allowed values]}``, e.g.
  ``{"surface": ["dry", "wet"]}``. The case's value is its parameter of that name; a case
  without one is inside when its scenario's ODD tags name one of the allowed values, and
  outside otherwise (nothing shows it is in the ODD).

:func:`clean` validates a scope and returns its canonical form (sorted, without duplicates,
integral bounds as integers), so that equal scopes give equal digests; :func:`contains` says
whether a case is inside; :func:`describe` says the scope in words.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError

KEYS = ("scenarios", "parameters", "odd")
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,59}$")
MAX_ITEMS = 50
MAX_TEXT = 100


def _refuse(message: str):
    raise ValidationError({"scope": message})


def _texts(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not value:
        _refuse(f"{where}: give a non-empty list of names.")
    if len(value) > MAX_ITEMS:
        _refuse(f"{where}: at most {MAX_ITEMS} names.")
    out = set()
    for item in value:
        if not isinstance(item, str) or not item.strip() or len(item) > MAX_TEXT:
            _refuse(f"{where}: {item!r} is not a name (text of 1 to {MAX_TEXT} characters).")
        out.add(item.strip())
    return sorted(out)


def _bound(value: Any, where: str) -> int | float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _refuse(f"{where}: {value!r} is not a finite number or null.")
    return int(value) if float(value).is_integer() else float(value)


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not NAME.match(value):
        _refuse(f"{where}: {value!r} is not a name (a letter, then letters, digits, _ . -).")
    return value


def clean(scope: Any) -> dict:
    """The canonical form of ``scope``; ``ValidationError`` on the field ``scope`` otherwise."""
    if scope is None:
        return {}
    if not isinstance(scope, Mapping):
        _refuse("Give a JSON object with scenarios, parameters and/or odd.")
    unknown = sorted(set(scope) - set(KEYS))
    if unknown:
        _refuse(f"Unknown key(s) {', '.join(map(str, unknown))}: use {', '.join(KEYS)}.")
    out: dict[str, Any] = {}
    if "scenarios" in scope:
        out["scenarios"] = _texts(scope["scenarios"], "scenarios")
    if "parameters" in scope:
        ranges = scope["parameters"]
        if not isinstance(ranges, Mapping) or not ranges or len(ranges) > MAX_ITEMS:
            _refuse("parameters: give {name: [low, high]} for 1 to 50 parameters.")
        out["parameters"] = {}
        for name in sorted(ranges, key=str):
            where = f"parameters.{_name(name, 'parameters')}"
            pair = ranges[name]
            if not isinstance(pair, list) or len(pair) != 2:
                _refuse(f"{where}: give [low, high] (null for an open end).")
            low, high = _bound(pair[0], where), _bound(pair[1], where)
            if low is None and high is None:
                _refuse(f"{where}: give at least one bound.")
            if low is not None and high is not None and low > high:
                _refuse(f"{where}: the low bound {low} is above the high bound {high}.")
            out["parameters"][name] = [low, high]
    if "odd" in scope:
        odd = scope["odd"]
        if not isinstance(odd, Mapping) or not odd or len(odd) > MAX_ITEMS:
            _refuse("odd: give {dimension: [allowed values]} for 1 to 50 dimensions.")
        out["odd"] = {
            _name(dim, "odd"): _texts(odd[dim], f"odd.{dim}") for dim in sorted(odd, key=str)
        }
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def contains(scope: Mapping, *, scenario: str, params: Mapping, odd_tags: Iterable[str]) -> bool:
    """Whether a case of ``scenario`` with ``params`` (its scenario tagged ``odd_tags``) is inside
    the canonical ``scope``."""
    names = scope.get("scenarios")
    if names:
        wanted = {n.casefold() for n in names}
        kind = params.get("scenario")
        if scenario.casefold() not in wanted and not (
            isinstance(kind, str) and kind.casefold() in wanted
        ):
            return False
    for name, (low, high) in (scope.get("parameters") or {}).items():
        value = _number(params.get(name))
        if (
            value is None
            or (low is not None and value < low)
            or (high is not None and value > high)
        ):
            return False
    odd = scope.get("odd") or {}
    if odd:
        tags = set(odd_tags)
        for dim, allowed in odd.items():
            if dim in params:
                if str(params[dim]) not in allowed:
                    return False
            elif not tags.intersection(allowed):
                return False
    return True


def describe(scope: Mapping) -> str:
    """The scope in words, e.g. ``CCRs; ego_speed 20 to 50; surface dry or wet``."""
    if not scope:
        return "every case"
    parts = []
    if scope.get("scenarios"):
        parts.append(", ".join(scope["scenarios"]))
    for name, (low, high) in (scope.get("parameters") or {}).items():
        if low is None:
            parts.append(f"{name} up to {high:g}")
        elif high is None:
            parts.append(f"{name} from {low:g}")
        else:
            parts.append(f"{name} {low:g} to {high:g}")
    for dim, allowed in (scope.get("odd") or {}).items():
        parts.append(f"{dim} {' or '.join(allowed)}")
    return "; ".join(parts)
