"""Limits on what one client can make the API do: body parsing, request rates, login lockout.

* :class:`BoundedJSONParser` is the API's only default parser: bodies larger than
  ``DATA_UPLOAD_MAX_MEMORY_SIZE`` are answered 413 and JSON nested deeper than
  ``SAFECASE_MAX_JSON_DEPTH`` 400, never 500 (see :mod:`projects.jsonbody`). DRF's own JSON
  parser reads the stream unbounded and lets ``RecursionError`` through.
* :class:`AnonThrottle` and :class:`UserThrottle` take their rates from the settings at each
  request (``SAFECASE_API_THROTTLE_ANON``, ``_USER``, and ``_<SCOPE>`` for a view that sets
  ``throttle_scope``), so a deployment and a test can change them, and count in the
  ``throttle`` cache, which is Redis, shared by every process, when Redis is configured.
* :func:`client_ip` is the address logins are locked out by (with the username) and anonymous
  requests are throttled by: ``REMOTE_ADDR``, or behind ``SAFECASE_PROXY_COUNT`` proxies the
  address the outermost of them saw, never a header the client wrote itself.
* :func:`lockout_response` is what a locked-out login gets: 429 with ``Retry-After`` and a page
  (JSON for API clients) that says when to try again.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging

from django.conf import settings
from django.core.cache import caches
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone
from rest_framework import exceptions, throttling
from rest_framework.parsers import BaseParser
from rest_framework.renderers import JSONRenderer

from projects import jsonbody

logger = logging.getLogger(__name__)


class RequestTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "The request body is too large."
    default_code = "too_large"


class BoundedJSONParser(BaseParser):
    """JSON with a size and a nesting bound; refusals are 413 / 400 with a message.

    Not a subclass of DRF's ``JSONParser``: DRF reads ``request.body`` whole for that class
    before parsing (Django's own size refusal there is a bare 400 page); this one reads the
    stream itself, at most one byte past the limit.
    """

    media_type = "application/json"
    renderer_class = JSONRenderer

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = (parser_context or {}).get("request")
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0) if request else 0
        except ValueError:
            declared = 0
        if declared > limit:
            raise RequestTooLarge(f"The body is larger than {limit:,} bytes.")
        body = stream.read(limit + 1)
        encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
        try:
            if encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
                body = body.decode(encoding)
            return jsonbody.loads(body, max_bytes=limit)
        except jsonbody.JSONTooLarge as exc:
            raise RequestTooLarge(str(exc)) from None
        except (jsonbody.JSONRefused, UnicodeDecodeError, LookupError) as exc:
            raise exceptions.ParseError(f"JSON parse error: {exc}") from None


class _SettingsRate:
    """A rate read from ``SAFECASE_API_THROTTLE_<SCOPE>`` when the request is checked."""

    default_scope = ""

    @property
    def cache(self):
        return caches["throttle"]

    def get_rate(self):
        return None  # chosen per view in allow_request

    def allow_request(self, request, view):
        self.scope = getattr(view, "throttle_scope", None) or self.default_scope
        self.rate = getattr(settings, f"SAFECASE_API_THROTTLE_{self.scope.upper()}", None)
        if not self.rate:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        try:
            return super().allow_request(request, view)
        except Exception:  # the cache (Redis) is down: serve rather than fail every request
            logger.warning("API throttle cache unavailable; request not counted", exc_info=True)
            return True

    def get_ident(self, request):
        return client_ip(request) or "unknown"


class AnonThrottle(_SettingsRate, throttling.AnonRateThrottle):
    default_scope = "anon"


class UserThrottle(_SettingsRate, throttling.UserRateThrottle):
    default_scope = "user"

    def get_cache_key(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return None  # anonymous requests are the anon throttle's
        return super().get_cache_key(request, view)


def _address(text: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address((text or "").strip()))
    except ValueError:
        return None


def client_ip(request) -> str | None:
    """The client's address, trusting ``X-Forwarded-For`` only as far as our own proxies.

    None when there is no valid address (a request built in code, as ``force_login`` does):
    the lockout records store addresses in an address column, which refuses anything else.
    """
    meta = request.META
    proxies = settings.SAFECASE_PROXY_COUNT
    if proxies > 0:
        hops = meta.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if len(hops) >= proxies and (seen := _address(hops[-proxies])):
            return seen
    return _address(meta.get("REMOTE_ADDR"))


def lockout_response(request, original_response=None, credentials=None):
    """429 with ``Retry-After`` and the time the lockout ends.

    A refused attempt during the lockout restarts the cool-off
    (``AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT``), so it ends one cool-off from now.
    """
    cool_off: dt.timedelta = settings.AXES_COOLOFF_TIME
    until = timezone.now() + cool_off
    minutes = max(1, round(cool_off.total_seconds() / 60))
    message = (
        f"Too many failed logins for this account from your address. Logins are locked for "
        f"{minutes} minute{'s' if minutes != 1 else ''}: try again after "
        f"{until:%H:%M} UTC ({until.isoformat(timespec='seconds')})."
    )
    wants_json = request.path.startswith("/api/") or "json" in request.META.get("HTTP_ACCEPT", "")
    if wants_json:
        response = JsonResponse({"detail": message, "retry_after": until.isoformat()}, status=429)
    else:
        response = render(
            request,
            "ui/locked_out.html",
            {"message": message, "until": until, "minutes": minutes},
            status=429,
        )
    response["Retry-After"] = str(int(cool_off.total_seconds()))
    return response
