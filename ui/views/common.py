"""What every project page shares: the permission check, the navigation and pagination."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render

from projects.permissions import Action, can, get_project_for_user, role_of

PAGE_SIZE = 50


def project_view(action: Action = Action.VIEW):
    """Log in first; then resolve ``key`` to a project the user may ``action`` in.

    A non-member gets 404 and a member whose role lacks the action 403, both from
    :func:`projects.permissions.get_project_for_user`. The view receives the project.
    """

    def decorate(view):
        @login_required
        @wraps(view)
        def wrapper(request, key, *args, **kwargs):
            project = get_project_for_user(request.user, key, action)
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
