from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    """Cursor pagination by default: stable under inserts, no COUNT(*)."""

    ordering = "-pk"
    page_size_query_param = "page_size"
    max_page_size = 100
