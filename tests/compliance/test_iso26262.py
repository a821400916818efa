"""Tests of compliance.iso26262 against the domain facts of REFERENCE.md §1-§3.

Expected values are transcribed here by hand from ../shared/domain/REFERENCE.md (and the CSV
beside it when available), never computed by the code under test.
"""

import csv
import itertools

import pytest

from compliance.iso26262 import (
    ALLOWED_DECOMPOSITIONS,
    ASIL_LEVELS,
    CONFIRMATION_MATRIX,
    MEASURE_LABELS,
    NO_REQUIREMENT,
    TABLE1_EDITION,
    Asil,
    AsilLevel,
    ConfirmationMeasure,
    Controllability,
    Exposure,
    Person,
    RuleViolation,
    Severity,
    asil_rank,
    check_approval,
    confirmation_asil,
    decomposition_error,
    determine_asil,
    independence_level,
    inherits_correctly,
    is_valid_decomposition,
    meets_independence,
    parse_asil,
    required_independence,
    safety_goal_asil,
)
from tests.shared_data import shared_path

SEVERITIES = ["S0", "S1", "S2", "S3"]
EXPOSURES = ["E0", "E1", "E2", "E3", "E4"]
CONTROLLABILITIES = ["C0", "C1", "C2", "C3"]
LEVELS = ["QM", "A", "B", "C", "D"]

# REFERENCE.md §1.2 table, transcribed row by row: (S, E) -> ASIL for C1, C2, C3.
TABLE_1_2 = {
    ("S1", "E1"): ("QM", "QM", "QM"),
    ("S1", "E2"): ("QM", "QM", "QM"),
    ("S1", "E3"): ("QM", "QM", "A"),
    ("S1", "E4"): ("QM", "A", "B"),
    ("S2", "E1"): ("QM", "QM", "QM"),
    ("S2", "E2"): ("QM", "QM", "A"),
    ("S2", "E3"): ("QM", "A", "B"),
    ("S2", "E4"): ("A", "B", "C"),
    ("S3", "E1"): ("QM", "QM", "A"),
    ("S3", "E2"): ("QM", "A", "B"),
    ("S3", "E3"): ("A", "B", "C"),
    ("S3", "E4"): ("B", "C", "D"),
}
TABLE_1_2_CELLS = [
    (s, e, c, asil)
    for (s, e), row in TABLE_1_2.items()
    for c, asil in zip(["C1", "C2", "C3"], row, strict=True)
]


# --- ASIL determination (§1.2) ---------------------------------------------------------------


def _expand(value, classes):
    return classes if value == "*" else [value]


def test_determine_asil_matches_every_row_of_shared_csv_with_wildcards_expanded():
    path = shared_path("domain", "asil_table.csv")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 39  # 36 explicit cells + 3 class-0 wildcard rows
    covered = set()
    for row in rows:
        for s, e, c in itertools.product(
            _expand(row["S"], SEVERITIES),
            _expand(row["E"], EXPOSURES),
            _expand(row["C"], CONTROLLABILITIES),
        ):
            assert determine_asil(s, e, c) == row["ASIL"], (s, e, c)
            covered.add((s, e, c))
    # The CSV, wildcards included, covers every one of the 4 x 5 x 4 class combinations.
    assert len(covered) == 80


@pytest.mark.parametrize(("severity", "exposure", "controllability", "expected"), TABLE_1_2_CELLS)
def test_determine_asil_matches_transcribed_table(severity, exposure, controllability, expected):
    assert determine_asil(severity, exposure, controllability) == expected


def test_transcribed_table_has_every_nonzero_class_once_and_reference_counts():
    nonzero = itertools.product(SEVERITIES[1:], EXPOSURES[1:], CONTROLLABILITIES[1:])
    cells = [(s, e, c) for s, e, c, _ in TABLE_1_2_CELLS]
    assert sorted(cells) == sorted(nonzero)
    results = [determine_asil(s, e, c) for s, e, c, _ in TABLE_1_2_CELLS]
    assert {level: results.count(level) for level in LEVELS} == {
        "QM": 18,
        "A": 8,
        "B": 6,
        "C": 3,
        "D": 1,
    }


@pytest.mark.parametrize(
    ("severity", "exposure", "controllability"),
    [("S0", "E4", "C3"), ("S3", "E4", "C0"), ("S3", "E0", "C3"), ("S0", "E0", "C0")],
)
def test_class_zero_guard_gives_qm_where_the_bare_sum_rule_would_not(
    severity, exposure, controllability
):
    assert determine_asil(severity, exposure, controllability) == "QM"


def test_any_class_zero_gives_qm_over_all_combinations():
    combinations = list(itertools.product(SEVERITIES, EXPOSURES, CONTROLLABILITIES))
    with_zero = {combo for combo in combinations if any(cls[1] == "0" for cls in combo)}
    qm = {combo for combo in combinations if determine_asil(*combo) == "QM"}
    # QM exactly where a class is 0 or where the table says QM: the guard adds nothing else
    table_qm = {(s, e, c) for s, e, c, asil in TABLE_1_2_CELLS if asil == "QM"}
    assert qm == with_zero | table_qm


@pytest.mark.parametrize(
    ("hazardous_event", "severity", "exposure", "controllability", "expected"),
    [
        # DEMO_AEB.md HARA, checked against the §1.2 table.
        ("HE-01", "S3", "E4", "C3", "D"),
        ("HE-02", "S2", "E4", "C2", "B"),
        ("HE-03", "S3", "E3", "C3", "C"),
        ("HE-04", "S3", "E2", "C3", "B"),
        ("HE-05", "S1", "E4", "C2", "A"),
        ("HE-06", "S0", "E4", "C1", "QM"),
    ],
)
def test_determine_asil_demo_hara(hazardous_event, severity, exposure, controllability, expected):
    assert determine_asil(severity, exposure, controllability) == expected


def test_determine_asil_accepts_enum_members_and_returns_plain_strings():
    result = determine_asil(Severity.S3, Exposure.E4, Controllability.C3)
    assert result == "D"
    assert type(result) is str
    assert type(determine_asil("S0", "E1", "C1")) is str


@pytest.mark.parametrize(
    ("args", "argument"),
    [
        ((3, "E4", "C3"), "severity"),
        ((None, "E4", "C3"), "severity"),
        (("S4", "E4", "C3"), "severity"),
        ((" S3", "E4", "C3"), "severity"),
        (("S3 ", "E4", "C3"), "severity"),
        (("s3", "E4", "C3"), "severity"),
        (("", "E4", "C3"), "severity"),
        (("E3", "S3", "C3"), "severity"),
        (("S3", "E5", "C3"), "exposure"),
        (("S3", 4, "C3"), "exposure"),
        (("S3", "e4", "C3"), "exposure"),
        (("S3", "E4", "C4"), "controllability"),
        (("S3", "E4", None), "controllability"),
        (("S3", "E4", 3.0), "controllability"),
        # A bad value is reported even when another class is 0.
        (("S0", "E9", "C1"), "exposure"),
    ],
)
def test_determine_asil_rejects_invalid_input_naming_argument(args, argument):
    with pytest.raises(ValueError, match=argument) as excinfo:
        determine_asil(*args)
    assert "must be one of" in str(excinfo.value)


def test_determine_asil_error_lists_allowed_values():
    with pytest.raises(ValueError) as excinfo:
        determine_asil("S3", "E5", "C3")
    message = str(excinfo.value)
    for allowed in EXPOSURES:
        assert repr(allowed) in message
    assert "'E5'" in message


def test_enums_hold_exactly_the_reference_classes():
    assert [m.value for m in Severity] == SEVERITIES
    assert [m.value for m in Exposure] == EXPOSURES
    assert [m.value for m in Controllability] == CONTROLLABILITIES
    assert [m.value for m in AsilLevel] == LEVELS
    assert list(ASIL_LEVELS) == LEVELS


# --- ranks, safety goal aggregation (§1.2) ---------------------------------------------------


def test_asil_rank_orders_qm_below_a_to_d():
    assert [asil_rank(level) for level in LEVELS] == [0, 1, 2, 3, 4]
    assert asil_rank("QM") < asil_rank("A") < asil_rank("B") < asil_rank("C") < asil_rank("D")
    assert asil_rank(parse_asil("B(D)")) == 2  # the developed level is ranked


@pytest.mark.parametrize("bad", ["E", "b", "", "B(D)", None, 2, " A"])
def test_asil_rank_rejects_non_levels(bad):
    with pytest.raises(ValueError, match="level"):
        asil_rank(bad)


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        (["D", "B"], "D"),  # DEMO SG-01 from HE-01, HE-02
        (["C", "A"], "C"),  # DEMO SG-02 from HE-03, HE-05
        (["B"], "B"),  # DEMO SG-03 from HE-04
        (["QM", "QM"], "QM"),
        (["A", "QM", "C", "B"], "C"),
        (("QM", "D", "A"), "D"),
    ],
)
def test_safety_goal_takes_highest_asil(events, expected):
    assert safety_goal_asil(events) == expected


@pytest.mark.parametrize("events", [[], ["B", "E"], ["B(D)"], ["b"], [None]])
def test_safety_goal_asil_rejects_empty_or_invalid(events):
    with pytest.raises(ValueError):
        safety_goal_asil(events)


# --- ASIL notation (§2.1) --------------------------------------------------------------------

# Every well-formed notation: 5 bare levels plus X(Y) with Y in A-D and X not above Y.
VALID_NOTATIONS = ["QM", "A", "B", "C", "D"] + [
    "QM(A)",
    "A(A)",
    "QM(B)",
    "A(B)",
    "B(B)",
    "QM(C)",
    "A(C)",
    "B(C)",
    "C(C)",
    "QM(D)",
    "A(D)",
    "B(D)",
    "C(D)",
    "D(D)",
]


@pytest.mark.parametrize(
    ("text", "level", "derived_from"),
    [
        ("D", "D", None),
        ("QM", "QM", None),
        ("B(D)", "B", "D"),
        ("QM(B)", "QM", "B"),
        ("D(D)", "D", "D"),
        ("A(A)", "A", "A"),
        ("C(D)", "C", "D"),
    ],
)
def test_parse_asil_and_round_trip(text, level, derived_from):
    asil = parse_asil(text)
    assert asil == Asil(level, derived_from)
    assert asil.level == level
    assert asil.derived_from == derived_from
    assert str(asil) == text
    assert asil.is_decomposed is (derived_from is not None)


def test_parse_asil_is_frozen_and_d_d_differs_from_d():
    asil = parse_asil("B(D)")
    with pytest.raises(AttributeError):
        asil.level = "A"
    assert parse_asil("D(D)") != parse_asil("D")


def test_every_notation_combination_is_valid_exactly_when_reference_allows():
    valid = []
    for level, parent in itertools.product(LEVELS, LEVELS + [None]):
        text = level if parent is None else f"{level}({parent})"
        try:
            parse_asil(text)
        except ValueError:
            continue
        valid.append(text)
    assert sorted(valid) == sorted(VALID_NOTATIONS)
    assert len(valid) == 19


@pytest.mark.parametrize(
    "text",
    [
        "",
        "E",
        "B(A)",
        "D(C)",
        "C(B)",
        "A(QM)",
        "QM(QM)",
        "b(d)",
        "B(d)",
        "qm",
        "B (D)",
        " B",
        "B ",
        "B(D",
        "B(D))",
        "B()",
        "(D)",
        "ASIL B",
        "ASIL B(D)",
        "B(D)(D)",
        "AB",
        "B(E)",
        None,
        3,
    ],
)
def test_parse_asil_rejects_invalid_notation(text):
    with pytest.raises(ValueError):
        parse_asil(text)


def test_parse_asil_message_explains_level_above_parent():
    with pytest.raises(ValueError, match="above the original ASIL A"):
        parse_asil("B(A)")


def test_asil_dataclass_validates_on_construction():
    with pytest.raises(ValueError):
        Asil("D", "C")
    with pytest.raises(ValueError):
        Asil("E")
    assert str(Asil("QM", "B")) == "QM(B)"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("B(D)", "D"), ("D", "D"), ("QM(B)", "B"), ("QM", "QM"), ("A(A)", "A"), ("C", "C")],
)
def test_confirmation_asil_is_the_safety_goal_asil(text, expected):
    assert confirmation_asil(text) == expected


# --- decomposition (§2.1) --------------------------------------------------------------------

# REFERENCE.md §2.1 table, transcribed: parent -> allowed pairs of developed levels.
ALLOWED_PAIRS = {
    "D": [("C", "A"), ("B", "B"), ("D", "QM")],
    "C": [("B", "A"), ("C", "QM")],
    "B": [("A", "A"), ("B", "QM")],
    "A": [("A", "QM")],
}
ALLOWED_TRIPLES = [
    (parent, f"{x}({parent})", f"{y}({parent})")
    for parent, pairs in ALLOWED_PAIRS.items()
    for x, y in pairs
]


def test_reference_table_has_eight_allowed_pairs():
    # D: 3, C: 2, B: 2, A: 1 (REFERENCE.md §2.1 lists 8 pairs, not 11).
    assert {k: len(v) for k, v in ALLOWED_DECOMPOSITIONS.items()} == {
        "D": 3,
        "C": 2,
        "B": 2,
        "A": 1,
    }
    assert {k: list(v) for k, v in ALLOWED_DECOMPOSITIONS.items()} == ALLOWED_PAIRS


@pytest.mark.parametrize(("parent", "first", "second"), ALLOWED_TRIPLES)
def test_allowed_pairs_are_valid_in_both_orders(parent, first, second):
    assert is_valid_decomposition(parent, first, second) is True
    assert is_valid_decomposition(parent, second, first) is True
    assert decomposition_error(parent, first, second) is None


def test_every_other_combination_of_bare_parent_is_invalid():
    allowed = {(p, a, b) for p, a, b in ALLOWED_TRIPLES} | {
        (p, b, a) for p, a, b in ALLOWED_TRIPLES
    }
    assert len(allowed) == 14  # B(D)+B(D) and A(B)+A(B) are their own mirror image
    valid = set()
    for parent in LEVELS:
        for first, second in itertools.product(VALID_NOTATIONS, repeat=2):
            if is_valid_decomposition(parent, first, second):
                valid.add((parent, first, second))
    assert valid == allowed


def test_hierarchical_decomposition_keeps_original_asil_in_parentheses():
    # Parent written X(Y): the pair table row is X, the children must carry (Y).
    true_set = set()
    for parent in VALID_NOTATIONS:
        if "(" not in parent:
            continue
        developed, original = parent[:-1].split("(")
        for x, y in ALLOWED_PAIRS.get(developed, []):
            true_set.add((parent, f"{x}({original})", f"{y}({original})"))
            true_set.add((parent, f"{y}({original})", f"{x}({original})"))
        for first, second in itertools.product(VALID_NOTATIONS, repeat=2):
            expected = (parent, first, second) in true_set
            assert is_valid_decomposition(parent, first, second) is expected, (
                parent,
                first,
                second,
            )


@pytest.mark.parametrize(
    ("parent", "first", "second", "expected"),
    [
        ("B(D)", "A(D)", "A(D)", True),
        ("B(D)", "B(D)", "QM(D)", True),
        ("B(D)", "A(B)", "A(B)", False),  # parenthesis must stay the goal's ASIL D
        ("A(D)", "A(D)", "QM(D)", True),
        ("D(D)", "B(D)", "B(D)", True),
        ("C(D)", "B(D)", "A(D)", True),
        ("C(D)", "B(C)", "A(C)", False),
        ("QM(D)", "QM(D)", "QM(D)", False),  # QM cannot be decomposed
        ("QM", "QM(A)", "QM(A)", False),
        ("B(C)", "A(C)", "A(C)", True),
    ],
)
def test_hierarchical_examples(parent, first, second, expected):
    assert is_valid_decomposition(parent, first, second) is expected


@pytest.mark.parametrize(
    ("parent", "first", "second"),
    [
        ("C", "A(C)", "A(C)"),  # wrong source in REFERENCE.md §2.1 ("C = A(C) + A(C)")
        ("D", "B", "B"),  # bare children do not record the decomposition
        ("D", "C", "A"),
        ("A", "A", "QM"),
        ("D", "B(D)", "B"),
        ("D", "C(D)", "B(D)"),
        ("D", "B(C)", "B(C)"),  # wrong original ASIL
        ("B", "A(D)", "A(D)"),
        ("C", "C(C)", "C(C)"),
        ("D", "D(D)", "D(D)"),
        ("A", "QM(A)", "QM(A)"),
    ],
)
def test_disallowed_decompositions(parent, first, second):
    assert is_valid_decomposition(parent, first, second) is False
    assert decomposition_error(parent, first, second)


def test_decompositions_of_a_that_a_wrong_source_forbids_are_allowed():
    # REFERENCE.md §2.1: "A cannot be decomposed" is wrong; A = A(A) + QM(A).
    assert is_valid_decomposition("A", "A(A)", "QM(A)") is True
    assert is_valid_decomposition("A", "QM(A)", "A(A)") is True
    # The incomplete source's only C pair is still allowed.
    assert is_valid_decomposition("C", "A(C)", "B(C)") is True


def test_demo_decomposition_of_fsr_001():
    # DEMO_AEB.md: FSR-001 (D) -> TSR-001 B(D) + TSR-002 B(D).
    assert is_valid_decomposition("D", "B(D)", "B(D)") is True


def test_decomposition_error_message_names_allowed_pairs():
    message = decomposition_error("C", "A(C)", "A(C)")
    assert "B(C) + A(C)" in message
    assert "C(C) + QM(C)" in message
    assert "not an allowed decomposition" in message


@pytest.mark.parametrize(
    ("parent", "first", "second"),
    [("E", "A(D)", "A(D)"), ("D", "b(d)", "B(D)"), ("D", "B(D)", ""), ("D", "C(A)", "A(D)")],
)
def test_decomposition_with_malformed_notation_raises(parent, first, second):
    with pytest.raises(ValueError):
        is_valid_decomposition(parent, first, second)


# --- inheritance (§2.2) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parent", "child", "expected"),
    [
        ("D", "D", True),  # DEMO FSR-002 -> TSR-003
        ("D", "C", False),
        ("D", "QM", False),
        ("B", "D", True),
        ("QM", "QM", True),
        ("QM", "A", True),
        ("C", "B", False),
        ("D", "B(D)", False),  # lowering: a decomposition step, needs the pair check
        ("B(D)", "B(D)", True),  # DEMO TSR-001 -> SW-001
        ("B(D)", "A(D)", False),
        ("B(D)", "B", True),
        ("B(D)", "C", True),
        ("B(D)", "A", False),
        ("B(D)", "B(C)", False),
        ("C", "C(D)", False),
        ("D", "D(D)", True),
        ("A(B)", "A(B)", True),
        ("A(B)", "B(B)", True),
    ],
)
def test_inherits_correctly(parent, child, expected):
    assert inherits_correctly(parent, child) is expected


def test_inherits_correctly_rejects_malformed():
    with pytest.raises(ValueError):
        inherits_correctly("D", "d")


# --- Table 1 confirmation measures (§3) ------------------------------------------------------

NR = "\u2014"  # "—"

# REFERENCE.md §3.2, transcribed row by row; columns QM, A, B, C, D.
TABLE_1 = {
    "impact_analysis": ["I3", "I3", "I3", "I3", "I3"],
    "hara": ["I3", "I3", "I3", "I3", "I3"],
    "safety_plan": [NR, "I1", "I1", "I2", "I3"],
    "functional_safety_concept": [NR, "I1", "I1", "I2", "I3"],
    "technical_safety_concept": [NR, "I1", "I1", "I2", "I3"],
    "integration_testing_strategy": [NR, "I0", "I1", "I2", "I2"],
    "safety_validation_specification": [NR, "I0", "I1", "I2", "I2"],
    "safety_analyses": [NR, "I1", "I1", "I2", "I3"],
    "safety_case": [NR, "I1", "I1", "I2", "I3"],
    "functional_safety_audit": [NR, NR, "I0", "I2", "I3"],
    "functional_safety_assessment": [NR, NR, "I0", "I2", "I3"],
}
TABLE_1_CELLS = [
    (measure, asil, value)
    for measure, row in TABLE_1.items()
    for asil, value in zip(LEVELS, row, strict=True)
]


def test_table_1_has_55_cells_and_11_measures_in_order():
    assert sum(len(row) for row in CONFIRMATION_MATRIX.values()) == 55
    assert [m.value for m in ConfirmationMeasure] == list(TABLE_1)
    assert set(CONFIRMATION_MATRIX) == set(ConfirmationMeasure)


@pytest.mark.parametrize(("measure", "asil", "expected"), TABLE_1_CELLS)
def test_required_independence_every_cell(measure, asil, expected):
    assert required_independence(measure, asil) == expected
    assert CONFIRMATION_MATRIX[ConfirmationMeasure(measure)][asil] == expected


def test_no_requirement_and_i0_are_distinct():
    assert required_independence("safety_plan", "QM") == NO_REQUIREMENT
    assert required_independence("integration_testing_strategy", "A") == "I0"
    assert required_independence("functional_safety_audit", "A") == NO_REQUIREMENT
    assert required_independence("functional_safety_assessment", "B") == "I0"
    assert NO_REQUIREMENT not in {"I0", "I1", "I2", "I3"}
    assert NO_REQUIREMENT == NR  # the transcription's mark is the one the code returns


def _reference_table_1() -> tuple[str, list[tuple[str, list[str]]]]:
    """REFERENCE.md §3: its heading and the rows of the Table 1 matrix (label, QM..D)."""
    text = shared_path("domain", "REFERENCE.md").read_text(encoding="utf-8")
    section = text[text.index("## 3. ") :]
    heading = section.splitlines()[0]
    rows = []
    for line in section[section.index("| Confirmation measure |") :].splitlines()[2:]:
        if not line.startswith("|"):
            break
        label, *cells = (cell.strip() for cell in line.strip("|").split("|"))
        rows.append((label, cells))
    return heading, rows


def test_table_1_edition_is_the_references():
    heading, _ = _reference_table_1()
    assert TABLE1_EDITION in heading and "Table 1" in heading


def test_the_matrix_is_the_reference_documents():
    _, rows = _reference_table_1()
    assert [cells for _, cells in rows] == [
        [CONFIRMATION_MATRIX[m][level] for level in LEVELS] for m in ConfirmationMeasure
    ]


def test_measure_labels_are_human_readable_and_distinct():
    labels = [MEASURE_LABELS[m] for m in ConfirmationMeasure]
    assert len(set(labels)) == 11
    assert all(label and "_" not in label for label in labels)
    assert all(m.label == MEASURE_LABELS[m] for m in ConfirmationMeasure)
    # Row by row as the reference words them: "Confirmation review: ...", "Functional safety
    # audit", "Functional safety assessment"
    _, rows = _reference_table_1()
    for measure, (reference, _) in zip(ConfirmationMeasure, rows, strict=True):
        kind = reference.replace("*", "").split(" (")[0].split(":")[0]
        assert measure.label.startswith(kind), (measure, reference)


def test_matrix_is_read_only():
    with pytest.raises(TypeError):
        CONFIRMATION_MATRIX[ConfirmationMeasure.SAFETY_PLAN]["D"] = "I1"


@pytest.mark.parametrize(
    ("measure", "asil", "expected"),
    [
        ("safety_plan", "B(D)", "I3"),  # decomposed: the goal's ASIL D column (§2.1)
        ("safety_plan", "B", "I1"),
        ("integration_testing_strategy", "QM(A)", "I0"),
        ("functional_safety_audit", "A(B)", "I0"),
        ("functional_safety_assessment", "QM(D)", "I3"),
        (ConfirmationMeasure.SAFETY_CASE, "C(C)", "I2"),
    ],
)
def test_required_independence_uses_safety_goal_asil(measure, asil, expected):
    assert required_independence(measure, asil) == expected


@pytest.mark.parametrize(
    ("measure", "asil"),
    [("Safety plan", "D"), ("safety plan", "D"), ("", "D"), (None, "D"), ("safety_plan", "E")],
)
def test_required_independence_rejects_unknown_input(measure, asil):
    with pytest.raises(ValueError):
        required_independence(measure, asil)


# --- independence levels (§3.1) --------------------------------------------------------------

AUTHOR = Person(user_id="alice", team="perception", org_unit="adas-development")
SAME_TEAM = Person(user_id="bob", team="perception", org_unit="adas-development")
OTHER_TEAM = Person(user_id="carol", team="planning", org_unit="adas-development")
OTHER_UNIT = Person(user_id="dave", team="safety", org_unit="functional-safety")


@pytest.mark.parametrize(
    ("reviewer", "expected"),
    [
        (AUTHOR, "none"),
        (Person("alice", "other", "elsewhere"), "none"),  # same person whatever the org data
        (SAME_TEAM, "I1"),
        (OTHER_TEAM, "I2"),
        (OTHER_UNIT, "I3"),
        (Person("erin", "perception", "external-assessor"), "I3"),
        (Person("frank"), "I1"),  # unknown team and unit: only "another person" is shown
        (Person("gina", "planning", None), "I2"),
        (Person("hank", "", ""), "I1"),
    ],
)
def test_independence_level(reviewer, expected):
    assert independence_level(AUTHOR, reviewer) == expected


def test_independence_level_rejects_missing_people():
    with pytest.raises(ValueError, match="reviewer"):
        independence_level(AUTHOR, "bob")
    with pytest.raises(ValueError, match="author"):
        independence_level(Person(""), SAME_TEAM)


# achieved -> required -> met?  ("—" always met; I0 by anyone but the author; I1 < I2 < I3)
MEETS = {
    "none": {"—": True, "I0": False, "I1": False, "I2": False, "I3": False},
    "I1": {"—": True, "I0": True, "I1": True, "I2": False, "I3": False},
    "I2": {"—": True, "I0": True, "I1": True, "I2": True, "I3": False},
    "I3": {"—": True, "I0": True, "I1": True, "I2": True, "I3": True},
}


@pytest.mark.parametrize(
    ("achieved", "required", "expected"),
    [(a, r, met) for a, row in MEETS.items() for r, met in row.items()],
)
def test_meets_independence(achieved, required, expected):
    assert meets_independence(achieved, required) is expected


@pytest.mark.parametrize(
    ("achieved", "required"), [("I0", "I1"), ("i1", "I1"), ("I1", "-"), ("I1", "I4"), (1, "I1")]
)
def test_meets_independence_rejects_unknown_values(achieved, required):
    with pytest.raises(ValueError):
        meets_independence(achieved, required)


def test_check_approval_refuses_the_author():
    with pytest.raises(RuleViolation, match="reviewer is the author") as excinfo:
        check_approval("safety_plan", "D", AUTHOR, AUTHOR)
    assert excinfo.value.code == "self_review"
    assert isinstance(excinfo.value, ValueError)
    # Also where Table 1 has no requirement: self-confirmation confirms nothing.
    with pytest.raises(RuleViolation, match="reviewer is the author"):
        check_approval("safety_plan", "QM", AUTHOR, AUTHOR)


def test_check_approval_refuses_insufficient_independence_with_clear_message():
    with pytest.raises(RuleViolation) as excinfo:
        check_approval("safety_plan", "D", AUTHOR, OTHER_TEAM)
    message = str(excinfo.value)
    assert excinfo.value.code == "insufficient_independence"
    assert message.startswith("ASIL D safety plan needs I3")
    assert "another organisational unit" in message
    assert "reviewer achieves I2" in message


def test_check_approval_uses_original_asil_for_decomposed_requirements():
    # B(D): Table 1 column D (I3), not B (I1).
    with pytest.raises(RuleViolation, match="needs I3") as excinfo:
        check_approval("safety_plan", "B(D)", AUTHOR, OTHER_TEAM)
    assert "B(D)" in str(excinfo.value)
    assert check_approval("safety_plan", "B", AUTHOR, SAME_TEAM) == "I1"


@pytest.mark.parametrize(
    ("measure", "asil", "reviewer", "expected"),
    [
        ("safety_plan", "D", OTHER_UNIT, "I3"),
        ("hara", "QM", OTHER_UNIT, "I3"),
        ("integration_testing_strategy", "D", OTHER_TEAM, "I2"),
        ("integration_testing_strategy", "A", SAME_TEAM, "I1"),
        ("functional_safety_assessment", "C", OTHER_TEAM, "I2"),
        ("functional_safety_audit", "A", SAME_TEAM, "I1"),
        ("safety_case", "A", SAME_TEAM, "I1"),
    ],
)
def test_check_approval_accepts_sufficient_reviewer(measure, asil, reviewer, expected):
    assert check_approval(measure, asil, AUTHOR, reviewer) == expected


@pytest.mark.parametrize(
    ("measure", "asil", "reviewer"),
    [
        ("hara", "A", OTHER_TEAM),  # HARA is I3 at every ASIL
        ("impact_analysis", "QM", SAME_TEAM),
        ("safety_analyses", "C", SAME_TEAM),
        ("functional_safety_assessment", "D", OTHER_TEAM),
        ("technical_safety_concept", "A(D)", OTHER_TEAM),
    ],
)
def test_check_approval_refuses_insufficient_reviewer(measure, asil, reviewer):
    with pytest.raises(RuleViolation):
        check_approval(measure, asil, AUTHOR, reviewer)
