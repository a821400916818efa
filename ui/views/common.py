"""What every project page shares: the permission check, the navigation, pagination and the
handling of a form posted to a service."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render

from projects.permissions import Action, can, get_project_for_user, role_of
from ui.forms import apply_service_errors

PAGE_SIZE = 50


def project_view(action: Action = Action.VIEW, *, post: Action | None = None):
    """Log in first; then resolve ``key`` to a project the user may ``action`` in (``post``
    instead for a POST: a page every role reads and only some save).

    A non-member gets 404 and a member whose role lacks the action 403, both from
    :func:`projects.permissions.get_project_for_user`, before the view looks anything up. The
    view receives the project.
    """

    def decorate(view):
        @login_required
        @wraps(view)
        def wrapper(request, key, *args, **kwargs):
            needed = post if post is not None and request.method == "POST" else action
            project = get_project_for_user(request.user, key, needed)
            return view(request, project, *args, **kwargs)

        return wrapper

    return decorate


def may(request, project, action: Action) -> bool:
    return can(request.user, project, action)


def is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def render_project(request, project, template, context=None, *, section="", status=200):
    """Render a project page with the navigation and what the user's role may do."""
    allowed = {action.value: can(request.user, project, action) for action in Action}
    base = {
        "project": project,
        "role": role_of(request.user, project),
        "allowed": allowed,
        "section": section,
    }
    return render(request, template, {**base, **(context or {})}, status=status)


def paginate(request, queryset, per_page: int = PAGE_SIZE):
    """The page named by ``?page=`` (the last page when too high, the first when invalid)."""
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))


def handle_form(
    form: forms.Form,
    save: Callable[[dict], Any],
    *,
    done: Callable[[Any], HttpResponse],
    failed: Callable[[forms.Form], HttpResponse],
    aliases: dict[str, str] | None = None,
) -> HttpResponse:
    """Bind, call the service, put its refusal beside the fields, redirect on success.

    When ``form`` is valid, ``save(cleaned_data)`` calls the service. A ``ValidationError`` it
    raises is attached to the form by :func:`ui.forms.apply_service_errors` (``aliases`` maps
    the service's field names to the form's), and ``failed(form)`` renders the page again with
    the bound form, as does an invalid form; otherwise ``done(result)`` answers, usually with
    :func:`succeeded`.
    """
    if form.is_valid():
        try:
            result = save(form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc, aliases)
        else:
            return done(result)
    return failed(form)


def succeeded(request, message: str, to: str, **kwargs) -> HttpResponse:
    """Say what was done and redirect to the URL named ``to`` (with ``kwargs``)."""
    messages.success(request, message)
    return redirect(to, **kwargs)
