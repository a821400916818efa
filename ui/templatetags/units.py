"""The numbers of criteria and verdicts on the pages, written by :mod:`compliance.units`.

``{% load units %}`` gives the filters ``num``, ``rate``, ``bound``, ``confidence``,
``percent``, ``exposure`` and ``allowed`` (a criterion's allowed rate or per-case probability),
and the tags ``target_bar`` and ``verdict_progress``: what was done of a validation target, in
words and as a bar on a log scale, so that 0.026 km of 3 million km is still visible.
"""

from __future__ import annotations

from django import template
from django.utils.html import format_html

from compliance import units

register = template.Library()


# The plain functions are the filters: ``{{ rate|rate:unit }}``, ``{{ level|confidence }}``.
register.filter("num", units.number)
register.filter("rate", units.rate)
register.filter("bound", units.bound)
register.filter("confidence", units.confidence)
register.filter("percent", units.percent)
register.filter("exposure", units.exposure)


@register.filter
def allowed(criterion):
    """What a criterion allows: a rate per hour or km, or a failure probability per case."""
    if criterion.unit == "cases":
        return units.rate(criterion.allowed_failure_probability, "cases")
    return units.rate(criterion.hazardous_behaviour_rate, criterion.unit)


@register.simple_tag
def target_bar(done, target, unit, share=None, tone=""):
    """A log-scale bar of ``done`` of ``target`` with the words beside it:
    ``0.026 km of 3.0 million km needed (8.7e-07 %)``. One tick per factor of ten."""
    if share is None:
        share = (done or 0) / target if target else 0.0
    words = units.target_progress(done, target, unit)
    share_text = units.percent(share)
    return format_html(
        '<span class="target"><span class="meter log {tone}" role="img" '
        'aria-label="{words}, {share} (log scale)" title="log scale: one tick per factor of 10, '
        'from 1e-{decades} of the target to the target">'
        '<span style="width: {width}%"></span></span> '
        '{words} <small class="muted">({share})</small></span>',
        tone=tone,
        words=words,
        share=share_text,
        decades=units.LOG_DECADES,
        width=f"{100 * units.log_position(done, target):.1f}",
    )


@register.simple_tag
def verdict_progress(verdict, criterion=None):
    """A verdict's progress towards its criterion's target: cases judged, or exposure. Give
    the ``criterion`` when the verdict was read without it."""
    unit = (criterion or verdict.criterion).unit
    done = verdict.trials if unit == "cases" else (verdict.exposure or 0.0)
    return target_bar(done, verdict.target, unit, verdict.progress, verdict.verdict)
