"""The operational design domain taxonomy an item's ODD is tagged with.

The dimensions and values follow the top-level attributes of ISO 34503 (scenery, environmental
conditions, dynamic elements), reduced to the conditions the validation side can judge: a tag
is ``dimension:value`` (``surface:wet``), and the same ``{dimension: [values]}`` is what an
acceptance criterion's ``odd`` scope names (:mod:`compliance.scope`), while a scenario's
``odd_tags`` carry the bare values (``wet``).

:func:`clean_tags` validates the tags of an item and returns them sorted without duplicates;
an unknown tag is refused on the field ``odd_tags`` naming the tag and the dimension's values.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError

TAXONOMY: dict[str, tuple[str, ...]] = {
    # scenery (ISO 34503 5.3)
    "road": ("motorway", "rural", "urban", "parking"),
    "junction": ("none", "roundabout", "crossing", "t-junction"),
    "zone": ("school_zone", "work_zone", "tunnel", "toll_plaza"),
    # environmental conditions (5.4)
    "weather": ("clear", "rain", "snow", "fog"),
    "surface": ("dry", "wet", "snow", "ice"),
    "illumination": ("day", "night", "dusk", "low_sun"),
    # dynamic elements (5.5)
    "traffic": ("car", "truck", "motorcycle", "cyclist", "pedestrian", "animal"),
    "speed": ("0-30", "30-60", "60-90", "90-130"),
}


def all_tags() -> list[str]:
    return [f"{dimension}:{value}" for dimension, values in TAXONOMY.items() for value in values]


def choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """The tags grouped by dimension, as the choices of a form field."""
    return [
        (dimension, [(f"{dimension}:{value}", value) for value in values])
        for dimension, values in TAXONOMY.items()
    ]


def clean_tags(tags: Iterable[str]) -> list[str]:
    known = set(all_tags())
    out = set()
    for tag in tags:
        if tag not in known:
            dimension = str(tag).partition(":")[0]
            hint = (
                f"{dimension} takes {', '.join(TAXONOMY[dimension])}"
                if dimension in TAXONOMY
                else f"the dimensions are {', '.join(TAXONOMY)}"
            )
            raise ValidationError(
                {"odd_tags": f"{tag!r} is not in the ODD taxonomy ({hint}); write dimension:value."}
            )
        out.add(tag)
    return sorted(out)


def as_scope(tags: Iterable[str]) -> dict[str, list[str]]:
    """The tags as the ``odd`` part of a criterion's scope: ``{dimension: [values]}``."""
    scope: dict[str, list[str]] = {}
    for tag in sorted(tags):
        dimension, _, value = tag.partition(":")
        scope.setdefault(dimension, []).append(value)
    return scope
