"""JSON from outside, parsed with bounds on size and nesting.

Python's decoder recurses once per level of nesting: a body of 100,000 ``[`` raises
``RecursionError`` inside it, and a document a few hundred levels deep that does parse makes
every later recursive walk over it (serializers, canonical JSON for the ledger, rendering)
fail the same way. Both would be HTTP 500. Every body the server parses itself (the API's
default parser, the signed webhook bodies and the UI's JSON form fields) goes through
:func:`loads`, which refuses such input with a :class:`JSONRefused` whose message is meant
for the client.
"""

from __future__ import annotations

import json

from django.conf import settings
from rest_framework import serializers

__all__ = ["BoundedJSONField", "JSONRefused", "JSONTooLarge", "loads", "max_depth"]


class JSONRefused(ValueError):
    """The body is not acceptable JSON; the message says why."""


class JSONTooLarge(JSONRefused):
    """The body is larger than the limit (HTTP 413)."""


def max_depth() -> int:
    return settings.SAFECASE_MAX_JSON_DEPTH


def _no_constant(name: str):
    raise JSONRefused(f"{name} is not valid JSON.")


def _check_depth(value, limit: int) -> None:
    """Walk the parsed value without recursion; refuse it past ``limit`` levels."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            raise JSONRefused(f"The JSON is nested more than {limit} levels deep.")
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


def loads(body: bytes | str, *, max_bytes: int, depth: int | None = None):
    """Parse ``body``; raise :class:`JSONRefused` (:class:`JSONTooLarge` over ``max_bytes``).

    NaN and Infinity are refused (they are not JSON and the ledger's canonical form has no
    place for them).
    """
    if len(body) > max_bytes:
        raise JSONTooLarge(f"The body is larger than {max_bytes:,} bytes.")
    limit = max_depth() if depth is None else depth
    try:
        text = body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else body
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise JSONRefused(f"The JSON is nested more than {limit} levels deep.") from None
    except UnicodeDecodeError as exc:
        raise JSONRefused(f"Not UTF-8 (byte {exc.start}).") from None
    except JSONRefused:
        raise
    except ValueError as exc:
        raise JSONRefused(f"Not valid JSON: {exc}") from None
    if isinstance(value, (dict, list)):
        _check_depth(value, limit)
    return value


class BoundedJSONField(serializers.JSONField):
    """DRF's ``JSONField`` parses a form field's text itself (``RecursionError`` and all);
    this one parses it through :func:`loads` and checks the depth of what it is given."""

    def to_internal_value(self, data):
        text = isinstance(data, (str, bytes, bytearray))
        if text and (self.binary or getattr(data, "is_json_string", False)):
            try:
                return loads(data, max_bytes=settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
            except JSONRefused as exc:
                raise serializers.ValidationError(str(exc)) from None
        if isinstance(data, (dict, list)):
            try:
                _check_depth(data, max_depth())
            except JSONRefused as exc:
                raise serializers.ValidationError(str(exc)) from None
        return super().to_internal_value(data)
