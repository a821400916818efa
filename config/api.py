"""API-wide helpers: the exception handler that turns domain refusals into HTTP 400."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    """Like DRF's handler, but a Django ``ValidationError`` raised by a service is a 400.

    Services validate with ``full_clean()`` and raise Django's ``ValidationError``; the API
    reports it with the field names it carries, so a client sees which field broke which rule.
    """
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        exc = exceptions.ValidationError(detail=detail)
    return drf_exception_handler(exc, context)
