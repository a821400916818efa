"""Small presentation helpers: ASIL and verdict badges, short hashes, executor labels."""

from django import template
from django.utils.html import format_html

from compliance import iso26262
from ui.selectors import asil_level
from validation.execution import registry

register = template.Library()


@register.filter
def asil(value):
    """An ASIL badge coloured by the developed level; ``B(D)`` reads as B developed from D."""
    if not value:
        return format_html('<span class="badge asil asil-none">{}</span>', "—")
    return format_html(
        '<span class="badge asil asil-{}" title="ASIL {}">{}</span>',
        asil_level(value),
        value,
        value,
    )


#: Labels that say more than the stored value.
BADGE_LABELS = {"not_judged": "not judged: no case in scope"}


@register.filter
def badge(value, kind=""):
    """A coloured label for a verdict, a run status or a verification result."""
    text = str(value or "—")
    return format_html(
        '<span class="badge {} {}">{}</span>', kind, text.lower(), BADGE_LABELS.get(text, text)
    )


@register.filter
def short(value, length=12):
    """The first characters of a hash (hex text or bytes), the whole value in the tooltip."""
    text = bytes(value).hex() if isinstance(value, (bytes, bytearray, memoryview)) else str(value)
    return format_html('<code title="{}">{}…</code>', text, text[: int(length)])


@register.filter
def get(mapping, key):
    """``mapping|get:key`` for dictionaries whose keys are not identifiers."""
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def value(v):
    """A KPI or parameter value for a table cell: yes/no, a compact number, or the text."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


@register.filter
def measure(name):
    """The readable name of an ISO 26262-2 Table 1 confirmation measure."""
    try:
        return iso26262.ConfirmationMeasure(name).label
    except ValueError:
        return name


@register.filter
def executor(name):
    """The label of an executor stored by name (a campaign's default, the one a run used)."""
    spec = registry.EXECUTORS.get(name)
    return spec.label if spec else (name or "—")
