from rest_framework.pagination import LimitOffsetPagination


def paginated(view, queryset, serializer_class):
    """A limit/offset page of ``queryset`` serialized with ``serializer_class``."""
    paginator = LimitOffsetPagination()
    page = paginator.paginate_queryset(queryset, view.request, view=view)
    data = serializer_class(page, many=True, context={"request": view.request}).data
    return paginator.get_paginated_response(data)
