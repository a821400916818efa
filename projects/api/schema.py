"""What the OpenAPI schema (``/api/schema/``) says beyond what the serializers say.

Every operation documents the errors it can answer, with one shared body each: 400 (and 409
for a duplicate) carry messages per field, the others a ``detail``. An authenticated operation
can answer 401, a write 403 when the caller's role lacks the action it needs (named in
``x-required-action``), an operation on a project or an object 404, one that reads a body 413
when the body is too large, and every operation 429 when the caller exceeds their rate. A
project key in a path is documented with its pattern.

:class:`AutoSchema` is the schema class of the whole API (``DEFAULT_SCHEMA_CLASS``); views
declare their successful responses and, with :func:`requires`, the action a write needs.
"""

from __future__ import annotations

from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from projects.models import project_key_validator
from projects.permissions import ROLE_ACTIONS, Action

ACTION_EXTENSION = "x-required-action"
# Project creation is not a project role's action: only staff users may create projects.
STAFF = "staff"


class ErrorOut(serializers.Serializer):
    """Every refusal that is not about the body's fields: 401, 403, 404, 405, 413, 429."""

    detail = serializers.CharField(help_text="what was refused and why")


class FieldErrorsOut(serializers.Serializer):
    """A refused body or query (400) or a duplicate (409): messages by field name.

    A key names the field in error (``detail`` or ``non_field_errors`` or ``__all__`` when
    no one field is at fault); its value is a message, a list of messages, or for a list or
    nested field the messages by position or name.
    """


class _FieldErrorsSchema(OpenApiSerializerExtension):
    target_class = FieldErrorsOut

    def map_serializer(self, auto_schema, direction):
        messages = {"type": "array", "items": {}}
        return {
            "type": "object",
            "description": FieldErrorsOut.__doc__.split("\n\n")[1].replace("\n    ", " ").strip(),
            "additionalProperties": {
                "anyOf": [{"type": "string"}, messages, {"type": "object"}],
            },
            "minProperties": 1,
        }


class ChoiceText(serializers.CharField):
    """Text that must be one of ``choices``, documented as an enumeration; the service checks
    the value, so the refusal carries the rule's own message."""

    def __init__(self, *, choices, **kwargs):
        self.choices = list(choices)
        super().__init__(**kwargs)


class _ChoiceTextSchema(OpenApiSerializerFieldExtension):
    target_class = ChoiceText

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "string", "enum": self.target.choices}


def roles_that_may(action: str) -> list[str]:
    return [role for role, actions in ROLE_ACTIONS.items() if action in actions]


def requires(action: Action | str) -> dict:
    """``extend_schema(**requires(Action.EDIT), ...)``: the action a write needs, for clients
    (and for the API contract test, which checks that no role writes without it)."""
    value = action.value if isinstance(action, Action) else action
    return {"extensions": {ACTION_EXTENSION: value}}


def _error(serializer, description: str) -> dict:
    return {"serializer": serializer, "description": description}


WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's schema, with the error responses and path patterns of this API."""

    def _resolve_path_parameters(self, variables):
        parameters = super()._resolve_path_parameters(variables)
        for parameter in parameters:
            schema = parameter["schema"]
            if parameter["name"] == "key":
                schema.update(pattern=project_key_validator.regex.pattern, maxLength=16)
                parameter.setdefault("description", "the project's key")
            elif schema.get("type") == "integer":
                schema.setdefault("minimum", 0)
        return parameters

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        text = isinstance(field, serializers.CharField) and not isinstance(field, ChoiceText)
        if (
            direction == "request"
            and text
            and field.trim_whitespace
            and not field.allow_blank
            and "pattern" not in schema
        ):
            # The field strips surrounding white space and then refuses an empty value.
            schema["pattern"] = r"\S"
        return schema

    def _errors(self, operation_has_body: bool, has_query: bool) -> dict[str, dict]:
        errors = {}
        if operation_has_body or has_query:
            errors["400"] = _error(
                FieldErrorsOut, "the body or the query was refused: messages by field"
            )
        if self.get_auth():
            errors["401"] = _error(ErrorOut, "not authenticated: no or a wrong token or session")
        action = self.get_extensions().get(ACTION_EXTENSION)
        if action:
            who = ", ".join(roles_that_may(action)) if action != STAFF else "staff users"
            errors["403"] = _error(ErrorOut, f"the caller may not {action} here (only {who})")
        if "{" in self.path:
            errors["404"] = _error(
                ErrorOut, "no such project for the caller (not a member), or no such object in it"
            )
        if operation_has_body:
            errors["413"] = _error(ErrorOut, "the body is larger than the server accepts")
        errors["429"] = _error(ErrorOut, "too many requests: wait as long as Retry-After says")
        return errors

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        has_body = self.method in WRITE_METHODS and bool(self._get_request_body())
        has_query = any(p["in"] == "query" for p in self._get_parameters())
        for code, error in self._errors(has_body, has_query).items():
            if code in responses and "content" in responses[code]:
                continue
            response = self._get_response_for_code(
                OpenApiResponse(error["serializer"]), code, ["application/json"], direction
            )
            response["description"] = (
                responses.get(code, {}).get("description") or error["description"]
            )
            responses[code] = response
        return responses
