"""Input serializers that take a JSON body's values in the types the schema states.

DRF is lenient where the schema is not: a text field takes the number 0 as "0", a number field
the text "12" as 12, a boolean field the number 1 as true. A client built from the schema never
sends those, and a request the schema forbids should not be accepted, so a body value of the
wrong JSON type is refused with 400 naming the field. Query strings and form fields are text by
nature and are not checked here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from rest_framework import serializers
from rest_framework.utils import html


def _type_error(field, value) -> str | None:
    if value is None:
        return None  # the field's own allow_null decides
    if isinstance(field, serializers.ManyRelatedField | serializers.ListField):
        child = getattr(field, "child_relation", None) or field.child
        if not isinstance(value, list):
            return "Expected a list."
        errors = [_type_error(child, item) for item in value]
        return next((e for e in errors if e), None)
    if isinstance(field, serializers.BooleanField):
        return None if isinstance(value, bool) else "Expected true or false."
    if isinstance(field, serializers.IntegerField):
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else "Expected a whole number."
    if isinstance(field, serializers.FloatField):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "Expected a number."
        try:
            finite = math.isfinite(float(value))
        except OverflowError:
            finite = False
        return None if finite else "The number is out of range."
    if isinstance(field, serializers.CharField | serializers.ChoiceField):
        return None if isinstance(value, str) else "Expected a string."
    if isinstance(field, serializers.RelatedField):
        return None if isinstance(value, str) else "Expected a string."
    return None


class JSONInput:
    """Mixin for an input serializer: refuse body values of the wrong JSON type (400)."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping) and not html.is_html_input(data):
            errors = {}
            for field in self._writable_fields:
                if field.field_name in data:
                    message = _type_error(field, data[field.field_name])
                    if message:
                        errors[field.field_name] = [message]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)
