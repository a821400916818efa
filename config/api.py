"""API-wide helpers: the exception handler that turns domain refusals into HTTP 400 (409 for a
duplicate), and the answers to a URL that no route matches (404) or a refused role (403): JSON
under /api/, the site's styled pages elsewhere, both with the reason in the API's words."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import JsonResponse
from django.views.defaults import page_not_found, permission_denied
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler

# The codes Django gives a uniqueness refusal (a unique field, a UniqueConstraint over fields).
DUPLICATE_CODES = frozenset({"unique", "unique_together"})


class Conflict(exceptions.ValidationError):
    """The body names something that exists already: the field messages of a 400, as 409."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "unique"


def _is_duplicate(exc: DjangoValidationError) -> bool:
    errors = exc.error_dict.values() if hasattr(exc, "error_dict") else [exc.error_list]
    codes = {error.code for field_errors in errors for error in field_errors}
    return bool(codes) and codes <= DUPLICATE_CODES


def exception_handler(exc, context):
    """Like DRF's handler, but a Django ``ValidationError`` raised by a service is a 400, and
    409 when every message in it is about a duplicate (the code or name is taken).

    Services validate with ``full_clean()`` and raise Django's ``ValidationError``; the API
    reports it with the field names it carries, so a client sees which field broke which rule.
    """
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        exc = (Conflict if _is_duplicate(exc) else exceptions.ValidationError)(detail=detail)
    return drf_exception_handler(exc, context)


def not_found(request, exception=None):
    """404 for a URL that matches no route: JSON under /api/, the site's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
    return page_not_found(request, exception)


def refused(request, exception=None):
    """403 with the reason the permission check gave (``The role viewer may not edit in
    AEB.``): JSON under /api/, the site's page elsewhere."""
    if request.path.startswith("/api/"):
        reason = str(exception or "") or "You do not have permission to perform this action."
        return JsonResponse({"detail": reason}, status=status.HTTP_403_FORBIDDEN)
    return permission_denied(request, exception)
