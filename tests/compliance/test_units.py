"""How the safety case writes its numbers: units, percentages, scientific notation, progress."""

import math

import pytest

from compliance import units


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (1e-6, "1e-06"),
        (1.09e-8, "1.09e-08"),
        (-3e-5, "-3e-05"),
        (0.0005, "5e-04"),
        (0.001, "0.001"),
        (0.026, "0.026"),
        (0.95, "0.95"),
        (12.6, "12.6"),
        (99.97, "100"),
        (183.2, "183"),
        (999.7, "1,000"),
        (2_995_732.2, "2,995,732"),
        (None, "—"),
        (math.inf, "∞"),
    ],
)
def test_numbers_are_scientific_when_small_and_grouped_when_large(value, text):
    assert units.number(value) == text


def test_a_small_rate_is_never_written_as_zero():
    assert units.rate(1e-6, "km") == "1e-06 per km"
    assert "0.000" not in units.rate(1e-6, "km")
    assert units.rate(3.2e-5, "h") == "3.2e-05 per hour"
    assert units.rate(1e-3, "cases") == "0.001 per case"
    assert units.rate(None, "km") == "—"


def test_a_bound_carries_the_unit_of_its_rate_and_its_confidence():
    assert units.bound(183.4, "km") == "183 per km"
    assert units.bound(0.0012, "cases", 0.95) == "0.0012 per case at 95 %"
    assert units.bound(None, "km", 0.95) == "—"


@pytest.mark.parametrize(
    ("level", "text"),
    [(0.95, "95 %"), (0.9, "90 %"), (0.999, "99.9 %"), (0.999999, "99.9999 %"), (None, "—")],
)
def test_a_confidence_is_a_percentage(level, text):
    assert units.confidence(level) == text


@pytest.mark.parametrize(
    ("share", "text"),
    [
        (0, "0 %"),
        (8.7e-9, "8.7e-07 %"),
        (0.0026, "0.26 %"),
        (0.26, "26 %"),
        (0.996, "99 %"),  # rounded down: 100 % means the target is reached
        (1.0, "100 %"),
        (None, "—"),
    ],
)
def test_progress_is_a_percentage_that_never_rounds_up_to_done(share, text):
    assert units.percent(share) == text


def test_exposure_carries_its_unit():
    assert units.exposure(0.026, "km") == "0.026 km"
    assert units.exposure(12.5, "h") == "12.5 h"
    assert units.exposure(161, "cases") == "161 cases"
    assert units.exposure(None, "km") == "—"


def test_target_progress_says_what_was_done_of_what_is_needed():
    assert units.target_progress(0.026, 2_995_732, "km") == "0.026 km of 3.0 million km needed"
    assert units.target_progress(161, 2_996, "cases") == "161 of 2,996 cases needed"
    assert units.target_progress(None, 748_933, "h") == "0 h of 748,933 h needed"
    reached = "81 cases judged: the 45 cases needed are reached"
    assert units.target_progress(81, 45, "cases") == reached
    assert units.target_progress(3.2e6, 2_995_732, "km") == (
        "3.2 million km judged: the 3.0 million km needed are reached"
    )
    assert units.amount(2.5e9) == "2.5 billion"


def test_a_log_scale_bar_gives_each_decade_the_same_length():
    target = 2_995_732
    assert units.log_position(target, target) == 1.0
    assert units.log_position(2 * target, target) == 1.0
    assert units.log_position(0, target) == 0.0
    assert units.log_position(target / 10**units.LOG_DECADES / 10, target) == 0.0
    tenth = units.log_position(target / 10, target)
    hundredth = units.log_position(target / 100, target)
    assert tenth == pytest.approx(1 - 1 / units.LOG_DECADES)
    assert tenth - hundredth == pytest.approx(1 / units.LOG_DECADES)
    # 0.026 km of 3 million: 8.7e-09 of the target, about 1.9 of the 10 decades along
    assert units.log_position(0.026, target) == pytest.approx(
        1 + math.log10(0.026 / target) / units.LOG_DECADES
    )
