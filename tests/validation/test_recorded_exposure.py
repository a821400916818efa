"""A recorded drive's km and hours count toward rate criteria exactly once: not once per event
case replaying it, not once per space or mining; and the verdict's figures say so."""

from __future__ import annotations

import pytest

from validation.verdicts import (
    RECORDED_DRIVE,
    Case,
    CriterionSpec,
    RecordedExposure,
    judge_in_scope,
)

PER_KM = CriterionSpec(
    code="AC-R", unit="km", confidence=0.9, allowed_rate=1e-2, target=1000.0
)  # at most 1 event per 100 km
PER_H = CriterionSpec(code="AC-H", unit="h", confidence=0.9, allowed_rate=1.0)
DRIVE_A = RecordedExposure("a" * 64, "mined", distance_km=300.0, duration_h=4.0)
DRIVE_B = RecordedExposure("b" * 64, "mined", distance_km=100.0, duration_h=1.0)


def _event_case(number, drive, events=0):
    """A case replaying a few seconds of ``drive`` around one mined event."""
    return Case(
        f"mined/events/{number:06d}",
        "mined",
        {RECORDED_DRIVE: drive.sha256, "span": [10.0, 14.0]},
        {"distance_km": 0.08, "duration_h": 4 / 3600, "events": events},
    )


def _judge(spec, cases, recorded, scope=None, speaks=lambda name: True):
    return judge_in_scope(spec, scope or {}, cases, odd_tags={}, speaks=speaks, recorded=recorded)


def test_a_drive_counts_once_however_many_of_its_events_are_replayed():
    cases = [_event_case(i, DRIVE_A, events=int(i == 0)) for i in range(5)]
    cases += [_event_case(5, DRIVE_B)]
    outcome, record = _judge(PER_KM, cases, [DRIVE_A, DRIVE_B])
    # 300 + 100 km, not 5 x 300 + 100 and not 6 x 0.08 km of replayed windows
    assert outcome.exposure == pytest.approx(400.0)
    assert (outcome.failures, outcome.trials) == (1, 6)
    assert record["exposure_figures"] == {
        "unit": "km",
        "cases": 0.0,
        "recorded_drives": [
            {"sha256": DRIVE_A.sha256, "exposure": 300.0},
            {"sha256": DRIVE_B.sha256, "exposure": 100.0},
        ],
        "total": 400.0,
    }
    hours, _ = _judge(PER_H, cases, [DRIVE_A, DRIVE_B])
    assert hours.exposure == pytest.approx(5.0)


def test_a_drive_listed_twice_still_counts_once():
    cases = [_event_case(0, DRIVE_A)]
    once, _ = _judge(PER_KM, cases, [DRIVE_A])
    twice, record = _judge(PER_KM, cases, [DRIVE_A, DRIVE_A])
    assert once.exposure == twice.exposure == pytest.approx(300.0)
    assert len(record["exposure_figures"]["recorded_drives"]) == 1


def test_simulated_cases_keep_their_own_exposure_beside_the_drives():
    simulated = Case("sim/0", "ccrs", {}, {"distance_km": 2.5, "events": 0})
    outcome, record = _judge(PER_KM, [simulated, _event_case(0, DRIVE_B)], [DRIVE_B])
    assert outcome.exposure == pytest.approx(102.5)
    assert record["exposure_figures"]["cases"] == pytest.approx(2.5)


def test_drives_without_events_still_count_and_make_a_verdict():
    outcome, record = _judge(PER_KM, [], [DRIVE_A, DRIVE_B])
    assert outcome.verdict != "not_judged" and outcome.exposure == pytest.approx(400.0)
    assert outcome.failures == 0


def test_drives_outside_the_scope_or_unrelated_to_the_criterion_count_nothing():
    cases = [_event_case(0, DRIVE_A)]
    other, _ = _judge(PER_KM, cases, [DRIVE_A], scope={"scenarios": ["CCRs"]})
    assert other.exposure == 0.0 and other.verdict == "not_judged"
    # a scope on a parameter cannot claim whole drives whose parameter is unknown
    ranged, _ = _judge(PER_KM, cases, [DRIVE_A], scope={"parameters": {"ego_speed": [10, 50]}})
    assert ranged.verdict == "not_judged"
    unrelated, _ = _judge(PER_KM, cases, [DRIVE_A], speaks=lambda name: name != "mined")
    assert unrelated.verdict == "not_judged"


def test_per_case_criteria_are_untouched_by_recorded_exposure():
    spec = CriterionSpec(code="AC-C", unit="cases", confidence=0.9, allowed_probability=0.5)
    outcome, record = _judge(spec, [_event_case(0, DRIVE_A)], [DRIVE_A])
    assert outcome.exposure is None and record["exposure_figures"] == {}
