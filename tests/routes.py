"""Every route of the site, found by walking the URL resolver, and URLs built from them.

The access sweep (``tests/config/test_access_sweep.py``), the write-route checks and the API
query counts take their routes from here rather than from lists written by hand, so a route is
covered the day it is added.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver, resolve

# An API view answers the methods it defines; these are the ones a client sends.
HTTP_METHODS = ("get", "post", "put", "patch", "delete")
# ``<int:pk>`` in a path(), and ``(?P<pk>...)`` or a bare ``(...)`` group in a re_path().
_PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>|\((?:\?P<(\w+)>)?[^()]*\)")


@dataclass(frozen=True)
class Route:
    """One URL pattern: ``name`` namespaced (``v1:hazards``, ``ui:hara``; None when unnamed),
    ``route`` the whole pattern from the site root, ``callback`` the view function."""

    name: str | None
    route: str
    callback: Callable
    namespace: str = ""

    @property
    def key(self) -> str:
        """How the tables name the route: its name, or its pattern when it has none."""
        return self.name or self.route

    @property
    def view_class(self):
        return getattr(self.callback, "view_class", None) or getattr(self.callback, "cls", None)

    @property
    def is_api(self) -> bool:
        return self.route.startswith("api/")

    def parameters(self) -> list[tuple[str, str]]:
        """``(segment, name)`` for each parameter: the path segment just before it (``runs``
        for ``runs/<int:pk>/``, "" at the start) and its name (a bare regex group: ``arg``)."""
        found = []
        for match in _PARAMETER.finditer(self.route):
            name = match.group(1) or match.group(2) or "arg"
            before = self.route[: match.start()].rstrip("/^").rsplit("/", 1)[-1]
            found.append((before, name))
        return found

    def methods(self) -> set[str]:
        """The methods a class-based view answers (empty for a function view: the sweep's
        table says which methods it takes)."""
        view = self.view_class
        if view is None:
            return set()
        allowed = getattr(view, "http_method_names", HTTP_METHODS)
        return {m for m in HTTP_METHODS if m in allowed and hasattr(view, m)}

    def url(self, values: Mapping[tuple[str, str], object]) -> str:
        """The URL with each parameter filled from ``values``, looked up by ``(segment, name)``
        and then by ``("", name)``; :class:`KeyError` names the parameter that has no value."""
        filled = iter([self._value(values, p) for p in self.parameters()])
        text = _PARAMETER.sub(lambda m: next(filled), self.route)
        return "/" + text.replace("^", "").replace("$", "")

    @staticmethod
    def _value(values, parameter) -> str:
        segment, name = parameter
        for candidate in (parameter, ("", name)):
            if candidate in values:
                return str(values[candidate])
        raise KeyError(f"{name} after {segment}/" if segment else name)

    def resolves(self, url: str) -> bool:
        """Whether ``url`` reaches this route's view (the fill went where it should)."""
        match = resolve(url.split("?")[0])
        return match.func is self.callback and match.route == self.route.replace("/^", "/")


def _walk(patterns, prefix: str = "", namespace: str = "") -> Iterator[Route]:
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = ":".join(n for n in (namespace, entry.namespace or "") if n)
            yield from _walk(entry.url_patterns, route, inner)
        elif isinstance(entry, URLPattern):
            name = entry.name and (f"{namespace}:{entry.name}" if namespace else entry.name)
            yield Route(name, route, entry.callback, namespace)


def all_routes() -> list[Route]:
    """Every route of the site, in the order the resolver tries them."""
    return list(_walk(get_resolver().url_patterns))
