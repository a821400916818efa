"""Numbers of the safety case as people read them: with their unit, at a sensible precision.

One place for how a rate, a bound, a confidence, an exposure and the progress towards a
validation target are written, so that the web pages, the API's views and the evidence pack
say the same thing the same way:

- a rate carries its unit: ``1e-06 per km``, ``3.2e-05 per hour``, ``0.001 per case``;
- a confidence is a percentage: ``95 %``, ``99.9 %``;
- small numbers are written in scientific notation (``1e-06``, never ``0.000``), large ones
  grouped (``2,995,732``) or, where a rough size is what matters, in words (``3.0 million``);
- progress towards a target says what was done, of what, in which unit:
  ``0.026 km of 3.0 million km needed``, and :func:`log_position` places it on a log scale.

Units are the codes of ``AcceptanceCriterion.unit``: ``h``, ``km`` and ``cases``. Every function
takes plain values and returns text; ``None`` (a value not known yet) is written as ``—``.
Standard library only, so any app may use it.
"""

from __future__ import annotations

import math

__all__ = [
    "LOG_DECADES",
    "MISSING",
    "amount",
    "bound",
    "confidence",
    "exposure",
    "log_position",
    "number",
    "percent",
    "rate",
    "scientific",
    "target_progress",
]

#: What a value not known (yet) is written as.
MISSING = "—"

#: How a rate's unit is read after "per": one hour, one km, one test case.
PER = {"h": "hour", "km": "km", "cases": "case"}

#: How an amount of exposure is written after the number.
EXPOSURE = {"h": "h", "km": "km", "cases": "cases"}

#: Decades a log-scale progress bar spans: from 10^-LOG_DECADES of the target to the target.
LOG_DECADES = 10

_SCIENTIFIC_BELOW = 1e-3  # smaller magnitudes are written as 1e-06, not 0.000001
_GROUPED_FROM = 100  # from here on whole numbers, grouped by thousands
_WORDS = ((1e12, "trillion"), (1e9, "billion"), (1e6, "million"))


def _float(value) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number


def scientific(value: float, digits: int = 3) -> str:
    """``value`` in scientific notation with up to ``digits`` significant digits and no
    trailing zeros: ``1e-06``, ``1.09e-08``, ``8.7e-09``."""
    mantissa, exponent = f"{value:.{max(digits, 1) - 1}e}".split("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{exponent}"


def number(value, digits: int = 3) -> str:
    """A number for reading: ``0`` exactly; below 0.001 in scientific notation (``1e-06``);
    up to 100 with ``digits`` significant digits (``0.026``, ``12.6``); from 100 on whole and
    grouped by thousands (``183``, ``2,995,732``)."""
    v = _float(value)
    if v is None:
        return MISSING
    if math.isnan(v):
        return "not a number"
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    if v == 0:
        return "0"
    size = abs(v)
    if size < _SCIENTIFIC_BELOW:
        return scientific(v, digits)
    if round(size) >= _GROUPED_FROM:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def amount(value) -> str:
    """A large amount as its rough size in words, for targets: ``3.0 million``,
    ``1.2 billion``; below a million as :func:`number` writes it (``2,996``)."""
    v = _float(value)
    if v is None or not math.isfinite(v):
        return number(v)
    for size, word in _WORDS:
        if abs(v) >= size:
            return f"{v / size:,.1f} {word}"
    return number(v)


def rate(value, unit: str) -> str:
    """A rate of events per unit of exposure, or a probability per test case, with its unit:
    ``1e-06 per km``, ``3.2e-05 per hour``, ``0.001 per case``."""
    text = number(value)
    if text == MISSING:
        return text
    return f"{text} per {PER.get(unit, unit)}"


def bound(value, unit: str, level=None) -> str:
    """A confidence bound on a rate or a per-case probability, in the rate's unit, and at
    ``level`` when given: ``183 per km``, ``0.0012 per case at 95 %``."""
    text = rate(value, unit)
    if level is None or text == MISSING:
        return text
    return f"{text} at {confidence(level)}"


def confidence(value) -> str:
    """A confidence level, given as a fraction, as a percentage: ``95 %``, ``99.9 %``."""
    v = _float(value)
    if v is None or not math.isfinite(v):
        return MISSING
    return f"{round(v * 100, 4):g} %"


def percent(share) -> str:
    """A share (0.26 for 26 %) as a percentage for progress: whole percents from 1 % on,
    rounded down so that ``100 %`` means reached (``26 %``); two significant digits from
    0.01 % (``0.26 %``); below that in scientific notation (``8.7e-07 %``)."""
    v = _float(share)
    if v is None or not math.isfinite(v):
        return MISSING
    p = v * 100
    if p <= 0:
        return "0 %"
    if p >= 100:
        return f"{p:,.0f} %"
    if p >= 1:
        return f"{math.floor(p)} %"
    if p >= 0.01:
        return f"{p:.2g} %"
    return f"{scientific(p, 2)} %"


def exposure(value, unit: str) -> str:
    """An amount of exposure or of test cases with its unit: ``0.026 km``, ``12.5 h``,
    ``161 cases``."""
    text = number(value)
    if text == MISSING:
        return text
    return f"{text} {EXPOSURE.get(unit, unit)}"


def target_progress(done, target, unit: str) -> str:
    """What was done of a validation target, in the target's unit:
    ``0.026 km of 3.0 million km needed``, ``161 of 2,996 cases needed``; once reached,
    ``81 cases judged: the 45 cases needed are reached``."""
    t = _float(target)
    if t is None:
        return MISSING
    word = EXPOSURE.get(unit, unit)
    done = _float(done) or 0.0
    if done >= t:
        return f"{amount(done)} {word} judged: the {amount(t)} {word} needed are reached"
    done_text = number(done)
    if unit != "cases":
        done_text = f"{done_text} {word}"
    return f"{done_text} of {amount(t)} {word} needed"


def log_position(done, target, decades: int = LOG_DECADES) -> float:
    """Where ``done`` of ``target`` sits on a log-scale bar, 0..1: the bar spans ``decades``
    powers of ten, from ``target`` / 10^decades (0) to ``target`` (1), so each tenth of a
    ten-decade bar is a factor of ten. Nothing done, or less than the bar's start, is 0."""
    d, t = _float(done), _float(target)
    if t is None or not math.isfinite(t) or t <= 0:
        return 1.0 if d else 0.0
    if d is None or d <= 0:
        return 0.0
    if d >= t:
        return 1.0
    return max(0.0, 1.0 + math.log10(d / t) / decades)
