"""Verdicts with confidence, against the worked numbers of the statistics reference (§7)."""

import pytest

from validation.verdicts import CriterionSpec, case_fails, judge_cases, judge_exposure

AC02 = CriterionSpec(
    code="AC-02",
    unit="cases",
    confidence=0.95,
    allowed_probability=1e-3,
    kpi="min_ttc",
    comparator=">",
    threshold=1.0,
    target=2995,
)


def cases(n, failing):
    return [{"min_ttc": 0.5 if i < failing else 2.0} for i in range(n)]


def test_2995_clean_cases_pass_a_1e_3_criterion_at_95_percent():
    result = judge_cases(AC02, cases(2995, 0))
    assert result.verdict == "pass"
    assert result.upper_bound == pytest.approx(1.0e-3, rel=5e-4)
    assert result.progress == 1.0


def test_1000_clean_cases_are_inconclusive_with_the_rule_of_three_bound():
    result = judge_cases(AC02, cases(1000, 0))
    assert result.verdict == "inconclusive"
    assert result.upper_bound == pytest.approx(2.991e-3, rel=5e-4)
    assert result.progress == pytest.approx(1000 / 2995)


def test_3_failures_in_1000_give_the_clopper_pearson_bound():
    spec = CriterionSpec(
        code="X",
        unit="cases",
        confidence=0.95,
        allowed_probability=1e-2,
        kpi="min_ttc",
        comparator=">",
        threshold=1.0,
    )
    result = judge_cases(spec, cases(1000, 3))
    assert (result.failures, result.trials) == (3, 1000)
    assert result.upper_bound == pytest.approx(7.735e-3, rel=5e-4)
    assert result.verdict == "pass"


def test_many_failures_fail():
    spec = CriterionSpec(
        code="X",
        unit="cases",
        confidence=0.95,
        allowed_probability=1e-2,
        kpi="min_ttc",
        comparator=">",
        threshold=1.0,
    )
    assert judge_cases(spec, cases(1000, 50)).verdict == "fail"


def test_no_cases_is_inconclusive_never_a_pass():
    assert judge_cases(AC02, []).verdict == "inconclusive"


def test_a_collision_or_a_missing_kpi_fails_the_case():
    assert case_fails(AC02, {"min_ttc": 3.0, "collision": True})
    assert case_fails(AC02, {})
    assert case_fails(AC02, {"min_ttc": float("nan")})
    assert not case_fails(AC02, {"min_ttc": 1.01})
    assert case_fails(AC02, {"min_ttc": 1.0})  # "above 1.0 s" is strict


def test_exposure_criterion_uses_the_poisson_bound():
    spec = CriterionSpec(code="AC-01", unit="h", confidence=0.95, allowed_rate=1e-5, target=2.996e5)
    result = judge_exposure(spec, events=2, exposure=1.0e6, trials=10)
    assert result.upper_bound == pytest.approx(6.296e-6, rel=5e-4)
    assert result.verdict == "pass"
    tight = CriterionSpec(code="AC-01", unit="h", confidence=0.95, allowed_rate=1e-6)
    assert judge_exposure(tight, events=2, exposure=1.0e6, trials=10).verdict == "inconclusive"
    assert judge_exposure(tight, events=40, exposure=1.0e6, trials=10).verdict == "fail"
    assert judge_exposure(tight, events=0, exposure=0.0, trials=0).verdict == "inconclusive"
