"""ISO 26262 rules as plain functions: ASIL determination, decomposition, inheritance and
confirmation-measure independence.

Pure standard-library Python with no Django imports, so models, services, forms and
management commands can all share one implementation and the tests need no database.

Every rule cites the section of ``../shared/domain/REFERENCE.md`` it comes from. That file is a
paraphrase of public secondary material; the licensed standard remains the authority.

Input strictness (a deliberate choice, see the docstrings): class names ("S3", "E4", "C3") and
ASIL notation ("B(D)") are accepted only in their exact upper-case spelling without surrounding
whitespace. Anything else raises :class:`ValueError` naming the argument and the allowed values, so
a typo in imported data is reported instead of being silently normalised.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

# ---------------------------------------------------------------------------------------------
# Classes and levels (REFERENCE.md §1.1)
# ---------------------------------------------------------------------------------------------


class Severity(StrEnum):
    """Severity classes S0-S3 (REFERENCE.md §1.1)."""

    S0 = "S0"  # no injuries
    S1 = "S1"  # light to moderate injuries
    S2 = "S2"  # severe, life-threatening injuries, survival probable
    S3 = "S3"  # life-threatening injuries with survival uncertain, or fatal injuries


class Exposure(StrEnum):
    """Exposure classes E0-E4 of the operational situation (REFERENCE.md §1.1)."""

    E0 = "E0"  # incredible
    E1 = "E1"  # very low probability
    E2 = "E2"  # low probability
    E3 = "E3"  # medium probability
    E4 = "E4"  # high probability


class Controllability(StrEnum):
    """Controllability classes C0-C3 (REFERENCE.md §1.1)."""

    C0 = "C0"  # controllable in general
    C1 = "C1"  # simply controllable (>= 99 % avoid the harm)
    C2 = "C2"  # normally controllable (>= 90 % avoid the harm)
    C3 = "C3"  # difficult to control or uncontrollable (< 90 % avoid the harm)


class AsilLevel(StrEnum):
    """ASIL levels in increasing order of rigour: QM < A < B < C < D (REFERENCE.md §1.2)."""

    QM = "QM"
    A = "A"
    B = "B"
    C = "C"
    D = "D"


#: The levels in rank order; ``ASIL_LEVELS[asil_rank(x)] == x``.
ASIL_LEVELS: tuple[str, ...] = ("QM", "A", "B", "C", "D")
_ASIL_RANK: Mapping[str, int] = MappingProxyType({lvl: i for i, lvl in enumerate(ASIL_LEVELS)})

_SEVERITIES: tuple[str, ...] = tuple(m.value for m in Severity)
_EXPOSURES: tuple[str, ...] = tuple(m.value for m in Exposure)
_CONTROLLABILITIES: tuple[str, ...] = tuple(m.value for m in Controllability)


def _allowed_text(values: Iterable[str]) -> str:
    return ", ".join(repr(v) for v in values)


def _class_digit(value: object, argument: str, allowed: tuple[str, ...]) -> int:
    """Return the digit of an S/E/C class name, or raise ValueError naming ``argument``."""
    # StrEnum members are str instances equal to their value, so Severity.S3 is accepted too.
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(
            f"{argument} must be one of {_allowed_text(allowed)} (exact upper-case spelling, "
            f"no whitespace), got {value!r}"
        )
    return int(value[1])


# ---------------------------------------------------------------------------------------------
# ASIL determination (REFERENCE.md §1.2)
# ---------------------------------------------------------------------------------------------


def determine_asil(severity: str, exposure: str, controllability: str) -> str:
    """Return the ASIL ("QM", "A", "B", "C" or "D") of a hazardous event.

    REFERENCE.md §1.2: if any class is 0 (S0, E0 or C0) the result is QM; this guard is applied
    first because the sum rule alone would wrongly give "A" for S0/E4/C3 or S3/E4/C0. Otherwise
    the ISO 26262-3 table equals the sum rule: index ``max(0, S + E + C - 6)`` mapped to
    QM, A, B, C, D.

    Arguments must be exactly "S0".."S3", "E0".."E4" and "C0".."C3" (or the matching enum
    members). Lower case, surrounding whitespace, integers, None or out-of-range classes such as
    "S4" raise :class:`ValueError` naming the offending argument. All three arguments are
    validated before the class-0 guard, so a bad value is never hidden by a zero class.
    """
    s = _class_digit(severity, "severity", _SEVERITIES)
    e = _class_digit(exposure, "exposure", _EXPOSURES)
    c = _class_digit(controllability, "controllability", _CONTROLLABILITIES)
    if s == 0 or e == 0 or c == 0:
        return AsilLevel.QM.value
    return ASIL_LEVELS[max(0, s + e + c - 6)]


def asil_rank(level: str | Asil) -> int:
    """Rank of an ASIL level: QM=0, A=1, B=2, C=3, D=4 (REFERENCE.md §1.2 ordering).

    Accepts a bare level ("B") or an :class:`Asil`, whose *developed* level is ranked. Decomposed
    notation as a string ("B(D)") is rejected: parse it first and decide which level you mean.
    """
    if isinstance(level, Asil):
        return _ASIL_RANK[level.level]
    if not isinstance(level, str) or level not in _ASIL_RANK:
        raise ValueError(
            f"level must be one of {_allowed_text(ASIL_LEVELS)} (exact upper-case spelling), "
            f"got {level!r}"
        )
    return _ASIL_RANK[level]


def _bare_level(value: object, argument: str) -> str:
    if not isinstance(value, str) or value not in _ASIL_RANK:
        raise ValueError(
            f"{argument} must be a bare ASIL level, one of {_allowed_text(ASIL_LEVELS)}, "
            f"got {value!r}"
        )
    return str(value)


def safety_goal_asil(event_asils: Iterable[str]) -> str:
    """Return the highest ASIL among the hazardous events a safety goal covers (REFERENCE.md §1.2,
    "Related HARA facts").

    Each entry must be a bare level as produced by :func:`determine_asil`; an empty collection
    raises :class:`ValueError` because a safety goal without hazardous events has no ASIL.
    """
    levels = [_bare_level(v, "event ASIL") for v in event_asils]
    if not levels:
        raise ValueError("event_asils is empty: a safety goal needs at least one hazardous event")
    return max(levels, key=_ASIL_RANK.__getitem__)


# ---------------------------------------------------------------------------------------------
# ASIL notation and decomposition (REFERENCE.md §2.1)
# ---------------------------------------------------------------------------------------------

_NOTATION = re.compile(r"(QM|A|B|C|D)(?:\((QM|A|B|C|D)\))?")


@dataclass(frozen=True)
class Asil:
    """An ASIL in the notation of REFERENCE.md §2.1.

    ``level`` is the level the element is developed to; ``derived_from`` is the ASIL in
    parentheses, i.e. the original ASIL of the safety goal the requirement came from, or None when
    the requirement was never decomposed. ``str()`` gives the notation back ("B(D)", "QM(B)",
    "D").

    Invariants (checked on construction): ``derived_from`` is A, B, C or D (a QM requirement has
    no decomposition, so "X(QM)" is invalid), and ``level`` is not above ``derived_from``
    ("B(A)" and "D(C)" are invalid: decomposition never raises a level). "D(D)" is valid and
    distinct from "D": it is the D half of a D(D) + QM(D) decomposition.
    """

    level: str
    derived_from: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.level, str) or self.level not in _ASIL_RANK:
            raise ValueError(
                f"level must be one of {_allowed_text(ASIL_LEVELS)}, got {self.level!r}"
            )
        object.__setattr__(self, "level", str(self.level))
        if self.derived_from is None:
            return
        if not isinstance(self.derived_from, str) or self.derived_from not in _ASIL_RANK:
            raise ValueError(
                f"derived_from must be None or one of {_allowed_text(ASIL_LEVELS[1:])}, "
                f"got {self.derived_from!r}"
            )
        object.__setattr__(self, "derived_from", str(self.derived_from))
        if self.derived_from == AsilLevel.QM:
            raise ValueError(
                f"'{self.level}(QM)' is invalid: a QM requirement cannot be decomposed, so QM "
                "never appears in parentheses (ISO 26262-9 clause 5)"
            )
        if _ASIL_RANK[self.level] > _ASIL_RANK[self.derived_from]:
            raise ValueError(
                f"'{self.level}({self.derived_from})' is invalid: the developed level "
                f"{self.level} is above the original ASIL {self.derived_from}; decomposition "
                "never raises a level (ISO 26262-9 clause 5)"
            )

    def __str__(self) -> str:
        if self.derived_from is None:
            return self.level
        return f"{self.level}({self.derived_from})"

    @property
    def is_decomposed(self) -> bool:
        """True when the notation carries an original ASIL in parentheses."""
        return self.derived_from is not None

    @property
    def original(self) -> str:
        """ASIL of the safety goal: the parenthesised level, or the level itself if bare."""
        return self.derived_from if self.derived_from is not None else self.level

    @property
    def rank(self) -> int:
        """Rank of the developed level (see :func:`asil_rank`)."""
        return _ASIL_RANK[self.level]


def parse_asil(text: str | Asil) -> Asil:
    """Parse ASIL notation: "QM", "A".."D", or "X(Y)" (REFERENCE.md §2.1).

    Strict: only the exact upper-case spelling without spaces is accepted. "b(d)", "B (D)",
    " B", "ASIL B", "", "E", "B(A)" (level above the original), "D(C)", "B(QM)" and non-strings
    raise :class:`ValueError`. An :class:`Asil` is returned unchanged.
    """
    if isinstance(text, Asil):
        return text
    if not isinstance(text, str):
        raise ValueError(f"ASIL notation must be a string such as 'B(D)', got {text!r}")
    match = _NOTATION.fullmatch(text)
    if match is None:
        raise ValueError(
            f"invalid ASIL notation {text!r}: expected QM, A, B, C or D, optionally followed by "
            "the original ASIL in parentheses, e.g. 'B(D)' (exact upper case, no spaces)"
        )
    return Asil(match.group(1), match.group(2))


#: Every notation :func:`parse_asil` accepts: the five levels, then each level below or at an
#: original ASIL A to D, in parentheses ("QM(A)", "A(A)", ..., "D(D)").
ASIL_NOTATIONS: tuple[str, ...] = ASIL_LEVELS + tuple(
    f"{level}({original})"
    for original in ASIL_LEVELS[1:]
    for level in ASIL_LEVELS[: _ASIL_RANK[original] + 1]
)


def confirmation_asil(asil_text: str | Asil) -> str:
    """Return the ASIL that confirmation measures are planned at.

    REFERENCE.md §2.1 ("What does not go down"): confirmation measures stay at the ASIL of the
    safety goal even after decomposition, so "B(D)" gives "D", "QM(B)" gives "B" and a bare "C"
    gives "C".
    """
    return parse_asil(asil_text).original


#: Allowed decomposition pairs per developed parent level (REFERENCE.md §2.1 table).
#: Each pair lists the developed levels of the two children; order does not matter.
ALLOWED_DECOMPOSITIONS: Mapping[str, tuple[tuple[str, str], ...]] = MappingProxyType(
    {
        "D": (("C", "A"), ("B", "B"), ("D", "QM")),
        "C": (("B", "A"), ("C", "QM")),
        "B": (("A", "A"), ("B", "QM")),
        "A": (("A", "QM"),),
    }
)


def decomposition_error(parent: str | Asil, first: str | Asil, second: str | Asil) -> str | None:
    """Explain why ``parent`` -> ``first`` + ``second`` is not an allowed decomposition, or return
    None when it is allowed.

    Reading of REFERENCE.md §2.1 used here (hierarchical decomposition):

    * the developed level of the parent selects the row of the pair table, so a bare "D" and a
      decomposed "D(D)" both allow C+A, B+B and D+QM, and "B(D)" allows A+A and B+QM;
    * both children must be written in decomposed notation, and their parenthesis must repeat the
      parent's *original* ASIL (the safety goal's ASIL): "B(D)" -> "A(D)" + "A(D)" is allowed,
      "B(D)" -> "A(B)" + "A(B)" is not;
    * bare children ("D" -> "B" + "B") are refused: the notation must record the decomposition;
    * QM (bare or "QM(X)") cannot be decomposed.

    Malformed notation raises :class:`ValueError` (see :func:`parse_asil`) rather than returning
    a message: it is a data error, not a disallowed decomposition.
    """
    p = parse_asil(parent)
    children = (parse_asil(first), parse_asil(second))
    pairs = ALLOWED_DECOMPOSITIONS.get(p.level, ())
    if not pairs:
        return f"{p} cannot be decomposed: ISO 26262-9 clause 5 allows no decomposition of QM"
    for child in children:
        if not child.is_decomposed:
            return (
                f"child {child} must be written in decomposed notation, e.g. "
                f"'{child.level}({p.original})' (ISO 26262-9 clause 5)"
            )
        if child.derived_from != p.original:
            return (
                f"child {child} must keep the original ASIL {p.original} of the safety goal in "
                f"parentheses, i.e. '{child.level}({p.original})' (ISO 26262-9 clause 5)"
            )
    levels = (children[0].level, children[1].level)
    if levels in pairs or levels[::-1] in pairs:
        return None
    allowed = ", ".join(f"{a}({p.original}) + {b}({p.original})" for a, b in pairs)
    return (
        f"{children[0]} + {children[1]} is not an allowed decomposition of {p}; "
        f"allowed: {allowed} (ISO 26262-9 clause 5)"
    )


def is_valid_decomposition(parent: str | Asil, first: str | Asil, second: str | Asil) -> bool:
    """True when ``parent`` may be decomposed into ``first`` + ``second`` (either order).

    Rules and reading: see :func:`decomposition_error` (REFERENCE.md §2.1). Malformed notation
    raises :class:`ValueError`; a well-formed but disallowed combination returns False.
    """
    return decomposition_error(parent, first, second) is None


def inherits_correctly(parent_asil: str | Asil, child_asil: str | Asil) -> bool:
    """True when a child requirement carries an acceptable ASIL without a decomposition
    (REFERENCE.md §2.2: each level inherits from its parent; lowering needs a recorded §2.1
    decomposition).

    * A bare child must be developed to at least the parent's developed level
      ("D" -> "C" is False, "B(D)" -> "B" or "C" is True).
    * A child in decomposed notation is plain inheritance only if its parenthesis equals the
      parent's original ASIL and its level is not below the parent's developed level
      ("B(D)" -> "B(D)" is True, "D" -> "D(D)" is True, "B(D)" -> "B(C)" is False).
    * Anything lower ("D" -> "B(D)") returns False here: it is a decomposition step, which the
      caller must check as a pair with :func:`is_valid_decomposition` and a cited record.
    """
    parent = parse_asil(parent_asil)
    child = parse_asil(child_asil)
    if child.is_decomposed and child.derived_from != parent.original:
        return False
    return child.rank >= parent.rank


# ---------------------------------------------------------------------------------------------
# Confirmation measures and independence (REFERENCE.md §3)
# ---------------------------------------------------------------------------------------------

#: Edition of ISO 26262-2 the matrix below follows (REFERENCE.md §3.2; the 2011 rows differ).
TABLE1_EDITION = "ISO 26262-2:2018"


class ConfirmationMeasure(StrEnum):
    """The 11 rows of the ISO 26262-2:2018 Table 1 matrix (REFERENCE.md §3.2), by stable
    machine name. ``label`` gives a human-readable name."""

    IMPACT_ANALYSIS = "impact_analysis"
    HARA = "hara"
    SAFETY_PLAN = "safety_plan"
    FUNCTIONAL_SAFETY_CONCEPT = "functional_safety_concept"
    TECHNICAL_SAFETY_CONCEPT = "technical_safety_concept"
    INTEGRATION_TESTING_STRATEGY = "integration_testing_strategy"
    SAFETY_VALIDATION_SPECIFICATION = "safety_validation_specification"
    SAFETY_ANALYSES = "safety_analyses"
    SAFETY_CASE = "safety_case"
    FUNCTIONAL_SAFETY_AUDIT = "functional_safety_audit"
    FUNCTIONAL_SAFETY_ASSESSMENT = "functional_safety_assessment"

    @property
    def label(self) -> str:
        """Human-readable name of the measure."""
        return MEASURE_LABELS[self]


#: Short subject of each measure, reused in refusal messages ("ASIL D safety plan needs I3 ...").
_MEASURE_SUBJECTS: Mapping[ConfirmationMeasure, str] = MappingProxyType(
    {
        ConfirmationMeasure.IMPACT_ANALYSIS: "impact analysis at item level",
        ConfirmationMeasure.HARA: "hazard analysis and risk assessment (incl. safety goals)",
        ConfirmationMeasure.SAFETY_PLAN: "safety plan",
        ConfirmationMeasure.FUNCTIONAL_SAFETY_CONCEPT: "functional safety concept",
        ConfirmationMeasure.TECHNICAL_SAFETY_CONCEPT: "technical safety concept",
        ConfirmationMeasure.INTEGRATION_TESTING_STRATEGY: "integration and testing strategy",
        ConfirmationMeasure.SAFETY_VALIDATION_SPECIFICATION: "safety validation specification",
        ConfirmationMeasure.SAFETY_ANALYSES: "safety analyses and dependent failure analyses",
        ConfirmationMeasure.SAFETY_CASE: "safety case",
        ConfirmationMeasure.FUNCTIONAL_SAFETY_AUDIT: "functional safety audit",
        ConfirmationMeasure.FUNCTIONAL_SAFETY_ASSESSMENT: "functional safety assessment",
    }
)

#: Human labels of the 11 measures (the wording of REFERENCE.md §3.2, first column).
MEASURE_LABELS: Mapping[ConfirmationMeasure, str] = MappingProxyType(
    {
        measure: (
            subject[0].upper() + subject[1:]
            if measure
            in (
                ConfirmationMeasure.FUNCTIONAL_SAFETY_AUDIT,
                ConfirmationMeasure.FUNCTIONAL_SAFETY_ASSESSMENT,
            )
            else f"Confirmation review: {subject}"
        )
        for measure, subject in _MEASURE_SUBJECTS.items()
    }
)


class RequiredIndependence(StrEnum):
    """Values of the Table 1 matrix (REFERENCE.md §3.1/§3.2).

    "—" (no requirement either way) and "I0" (should be done; if done, not by the author) are
    distinct values, as REFERENCE.md §3.2 insists.
    """

    NO_REQUIREMENT = "\u2014"  # the em dash "—"
    I0 = "I0"
    I1 = "I1"
    I2 = "I2"
    I3 = "I3"


class AchievedIndependence(StrEnum):
    """Independence a reviewer actually has from the author (REFERENCE.md §3.1 definitions)."""

    NONE = "none"  # the reviewer is the author
    I1 = "I1"  # another person
    I2 = "I2"  # another team (not the same direct superior)
    I3 = "I3"  # another organisational unit / department, or an external organisation


NO_REQUIREMENT = RequiredIndependence.NO_REQUIREMENT.value

_NR = NO_REQUIREMENT
# Rows in ASIL order QM, A, B, C, D, transcribed from REFERENCE.md §3.2.
_TABLE1_ROWS: dict[ConfirmationMeasure, tuple[str, str, str, str, str]] = {
    ConfirmationMeasure.IMPACT_ANALYSIS: ("I3", "I3", "I3", "I3", "I3"),
    ConfirmationMeasure.HARA: ("I3", "I3", "I3", "I3", "I3"),
    ConfirmationMeasure.SAFETY_PLAN: (_NR, "I1", "I1", "I2", "I3"),
    ConfirmationMeasure.FUNCTIONAL_SAFETY_CONCEPT: (_NR, "I1", "I1", "I2", "I3"),
    ConfirmationMeasure.TECHNICAL_SAFETY_CONCEPT: (_NR, "I1", "I1", "I2", "I3"),
    ConfirmationMeasure.INTEGRATION_TESTING_STRATEGY: (_NR, "I0", "I1", "I2", "I2"),
    ConfirmationMeasure.SAFETY_VALIDATION_SPECIFICATION: (_NR, "I0", "I1", "I2", "I2"),
    ConfirmationMeasure.SAFETY_ANALYSES: (_NR, "I1", "I1", "I2", "I3"),
    ConfirmationMeasure.SAFETY_CASE: (_NR, "I1", "I1", "I2", "I3"),
    ConfirmationMeasure.FUNCTIONAL_SAFETY_AUDIT: (_NR, _NR, "I0", "I2", "I3"),
    ConfirmationMeasure.FUNCTIONAL_SAFETY_ASSESSMENT: (_NR, _NR, "I0", "I2", "I3"),
}

#: ``CONFIRMATION_MATRIX[measure][asil]`` -> "—", "I0", "I1", "I2" or "I3"
#: (ISO 26262-2:2018 Table 1 as given in REFERENCE.md §3.2). Read-only.
CONFIRMATION_MATRIX: Mapping[ConfirmationMeasure, Mapping[str, str]] = MappingProxyType(
    {
        measure: MappingProxyType(dict(zip(ASIL_LEVELS, row, strict=True)))
        for measure, row in _TABLE1_ROWS.items()
    }
)

_REQUIRED_RANK: Mapping[str, int] = MappingProxyType({_NR: -1, "I0": 0, "I1": 1, "I2": 2, "I3": 3})
_ACHIEVED_RANK: Mapping[str, int] = MappingProxyType({"none": -1, "I1": 1, "I2": 2, "I3": 3})

_REQUIRED_MEANING: Mapping[str, str] = MappingProxyType(
    {
        _NR: "no requirement",
        "I0": "anyone but the author, if performed",
        "I1": "a person other than the author",
        "I2": "a person outside the author's team",
        "I3": "a person from another organisational unit or an external organisation",
    }
)
_ACHIEVED_MEANING: Mapping[str, str] = MappingProxyType(
    {
        "none": "the author",
        "I1": "another person in the same team",
        "I2": "another team in the same organisational unit",
        "I3": "another organisational unit",
    }
)


def _as_measure(measure: object) -> ConfirmationMeasure:
    if isinstance(measure, str):
        for member in ConfirmationMeasure:
            if member.value == measure:
                return member
    raise ValueError(
        f"measure must be one of {_allowed_text(m.value for m in ConfirmationMeasure)}, "
        f"got {measure!r}"
    )


def required_independence(measure: str, asil: str | Asil) -> str:
    """Return the Table 1 independence required for ``measure`` at ``asil``: "—", "I0", "I1",
    "I2" or "I3" (REFERENCE.md §3.2, edition :data:`TABLE1_EDITION`).

    ``asil`` may be decomposed notation; the column used is the original ASIL of the safety goal
    (REFERENCE.md §2.1, see :func:`confirmation_asil`), so "B(D)" is looked up under D.
    """
    return CONFIRMATION_MATRIX[_as_measure(measure)][confirmation_asil(asil)]


@dataclass(frozen=True)
class Person:
    """Who wrote or reviewed a work product, with the organisational facts that decide
    independence (REFERENCE.md §3.1).

    ``team`` is the group reporting to one direct superior; ``org_unit`` is the department (or
    external organisation) with its own management, resources and release authority. Unknown
    values (None or "") never count as "different": independence must be shown, not assumed.
    """

    user_id: str | int
    team: str | None = None
    org_unit: str | None = None


def _known_and_different(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and a != b


def independence_level(author: Person, reviewer: Person) -> str:
    """Return the highest independence the reviewer achieves from the author (REFERENCE.md §3.1):

    * same ``user_id`` -> "none";
    * different organisational unit (both known) -> "I3";
    * otherwise a different team (both known) -> "I2";
    * otherwise (another person, same or unknown team) -> "I1".
    """
    for argument, person in (("author", author), ("reviewer", reviewer)):
        if not isinstance(person, Person):
            raise ValueError(f"{argument} must be a Person, got {person!r}")
        if person.user_id is None or person.user_id == "":
            raise ValueError(f"{argument}.user_id must be set")
    if author.user_id == reviewer.user_id:
        return AchievedIndependence.NONE.value
    if _known_and_different(author.org_unit, reviewer.org_unit):
        return AchievedIndependence.I3.value
    if _known_and_different(author.team, reviewer.team):
        return AchievedIndependence.I2.value
    return AchievedIndependence.I1.value


def meets_independence(achieved: str, required: str) -> bool:
    """True when an achieved independence satisfies a Table 1 requirement (REFERENCE.md §3.1).

    "—" is always met (even by the author); "I0" is met by anyone but the author; otherwise
    I1 < I2 < I3 and the achieved level must be at least the required one.
    """
    if not isinstance(achieved, str) or achieved not in _ACHIEVED_RANK:
        raise ValueError(
            f"achieved must be one of {_allowed_text(_ACHIEVED_RANK)}, got {achieved!r}"
        )
    if not isinstance(required, str) or required not in _REQUIRED_RANK:
        raise ValueError(
            f"required must be one of {_allowed_text(_REQUIRED_RANK)}, got {required!r}"
        )
    if required == _NR:
        return True
    return _ACHIEVED_RANK[achieved] >= _REQUIRED_RANK[required]


class RuleViolation(ValueError):
    """A safety rule refuses an action. ``code`` is a stable machine-readable reason; the message
    names the rule in words suitable for the user interface."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_approval(measure: str, asil: str | Asil, author: Person, reviewer: Person) -> str:
    """Check that ``reviewer`` may perform ``measure`` on a work product of ``asil`` written by
    ``author``; return the achieved independence, or raise :class:`RuleViolation`.

    * code "self_review": the reviewer is the author. Refused for every measure, including cells
      marked "—": a confirmation performed by the author confirms nothing (REFERENCE.md §3.1,
      I0: "if performed, someone other than the author"). This is a Safecase policy that is
      stricter than :func:`meets_independence` for "—".
    * code "insufficient_independence": the achieved level is below the Table 1 requirement for
      the safety goal's ASIL (REFERENCE.md §3.2; decomposed ASILs use the original ASIL, §2.1).
    """
    member = _as_measure(measure)
    parsed = parse_asil(asil)
    goal_asil = parsed.original
    required = CONFIRMATION_MATRIX[member][goal_asil]
    achieved = independence_level(author, reviewer)
    subject = _MEASURE_SUBJECTS[member]
    where = f"ASIL {goal_asil}" if not parsed.is_decomposed else f"ASIL {goal_asil} (from {parsed})"
    if achieved == AchievedIndependence.NONE:
        raise RuleViolation(
            "self_review",
            f"reviewer is the author: the {subject} of an {where} work product must be confirmed "
            "by someone other than its author (ISO 26262-2 clause 6)",
        )
    if not meets_independence(achieved, required):
        raise RuleViolation(
            "insufficient_independence",
            f"{where} {subject} needs {required} ({_REQUIRED_MEANING[required]}); reviewer "
            f"achieves {achieved} ({_ACHIEVED_MEANING[achieved]}) (ISO 26262-2:2018 Table 1)",
        )
    return achieved
