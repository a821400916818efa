"""Pages of a list: ``?limit=&offset=``, answered as ``{count, next, previous, results}``.

A list view sets ``pagination_class = Page`` (which is also how the OpenAPI schema learns that
it answers a page, not a bare array) and returns :func:`paginated`.
"""

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination

MAX_LIMIT = 1000
# The largest offset that every database we run on takes in OFFSET (a 32-bit signed integer).
MAX_OFFSET = 2**31 - 1


def _bounded(request, name: str, low: int, high: int) -> int | None:
    text = request.query_params.get(name)
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise ValidationError({name: [f"Give a whole number from {low} to {high}."]})
    return value


class Page(LimitOffsetPagination):
    """Limit and offset pages that refuse a malformed or out-of-range ``limit`` or ``offset``
    with 400 naming it, rather than silently serving the first page."""

    max_limit = MAX_LIMIT

    def get_limit(self, request):
        limit = _bounded(request, self.limit_query_param, 1, MAX_LIMIT)
        return self.default_limit if limit is None else limit

    def get_offset(self, request):
        return _bounded(request, self.offset_query_param, 0, MAX_OFFSET) or 0

    def get_paginated_response_schema(self, schema):
        page = super().get_paginated_response_schema(schema)
        page["required"] = ["count", "next", "previous", "results"]
        page["properties"]["count"]["minimum"] = 0
        return page

    def get_schema_operation_parameters(self, view):
        limit, offset = super().get_schema_operation_parameters(view)
        limit["schema"].update(minimum=1, maximum=MAX_LIMIT, default=self.default_limit)
        offset["schema"].update(minimum=0, maximum=MAX_OFFSET, default=0)
        return [limit, offset]


def paginated(view, queryset, serializer_class):
    """A page of ``queryset`` serialized with ``serializer_class``, by the view's
    ``pagination_class``."""
    paginator = view.pagination_class()
    page = paginator.paginate_queryset(queryset, view.request, view=view)
    data = serializer_class(page, many=True, context={"request": view.request}).data
    return paginator.get_paginated_response(data)
