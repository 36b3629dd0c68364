from __future__ import annotations

from rest_framework.pagination import PageNumberPagination


class StandardPagination(PageNumberPagination):
    """`?page=N&pageSize=M`; at most 1000 rows a page so a listing cannot exhaust memory."""

    page_size = 100
    page_size_query_param = "pageSize"
    max_page_size = 1000
