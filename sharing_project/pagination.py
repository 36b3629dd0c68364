from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination, PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param


def whole_number(params, name: str, *, minimum: int, maximum: int | None = None) -> int | None:
    """The query parameter `name` as a whole number in [minimum, maximum], None when absent;
    anything else is a 400 that names the parameter and its range, as the schema states it."""
    value = params.get(name)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or number < minimum or (maximum is not None and number > maximum):
        bounds = f"from {minimum}" + (f" to {maximum}" if maximum is not None else "")
        raise ValidationError({name: [f"{value!r} is not allowed: give a whole number {bounds}."]})
    return number


class StandardPagination(PageNumberPagination):
    """`?page=N&pageSize=M`; at most 1000 rows a page so a listing cannot exhaust memory.

    A page or size that is not a whole number in range is a 400 naming it (DRF would quietly
    use the default size, and answer a page 0 with 404); a page past the last is still 404.
    """

    page_size = 100
    page_size_query_param = "pageSize"
    max_page_size = 1000
    invalid_page_message = "There is no page {page_number}: {message}."

    def get_page_number(self, request, paginator):
        return whole_number(request.query_params, self.page_query_param, minimum=1) or 1

    def get_page_size(self, request) -> int:
        size = whole_number(
            request.query_params, self.page_size_query_param, minimum=1, maximum=self.max_page_size
        )
        return size or self.page_size

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return [
            {
                "name": self.page_query_param,
                "required": False,
                "in": "query",
                "description": "page number, from 1; a page past the last is 404",
                "schema": {"type": "integer", "minimum": 1},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"rows a page (default {self.page_size}, "
                f"at most {self.max_page_size})",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size},
            },
        ]


class KnownCount:
    """Rows whose number is known already (stored on their job), for a paginator that would
    otherwise count them at every page; None: counted as usual."""

    def __init__(self, rows: QuerySet, count: int | None):
        self.rows, self.known = rows, count

    def count(self) -> int:
        return self.rows.count() if self.known is None else self.known

    def __getitem__(self, key):
        return self.rows[key]


class KeysetPagination(BasePagination):
    """Pages of rows ordered by a unique integer column (a job's objects by `position`), asked
    by where the page before ended: `?after=P` (the rows after position P), `?before=P` (the
    rows before it, going back), `pageSize=M`.

    Each page is one range query on the column's index, LIMIT M + 1: the last page of a million
    rows costs what the first does. Nothing is counted, and there is no page number (an OFFSET
    reads every row it skips); `?page=` is refused, so a client written for page numbers fails
    at once instead of reading the first page forever.
    """

    field = "position"
    page_size = 100
    max_page_size = 1000
    page_size_query_param = "pageSize"

    def paginate_queryset(self, queryset, request: Request, view=None) -> list:
        self.request = request
        params = request.query_params
        if "page" in params:
            raise ValidationError(
                {"page": ["This listing has no page numbers: follow `next`, or ask ?after=P."]}
            )
        after, before = self._position(params, "after"), self._position(params, "before")
        if after is not None and before is not None:
            raise ValidationError({"before": ["Give after or before, not both."]})
        size = self._page_size(params)
        if before is not None:
            rows = list(
                queryset.filter(**{f"{self.field}__lt": before}).order_by(f"-{self.field}")[
                    : size + 1
                ]
            )
            more_before = len(rows) > size
            rows = rows[:size][::-1]
            self.previous_before = self._key(rows[0]) if rows and more_before else None
            self.next_after = self._key(rows[-1]) if rows else None
        else:
            if after is not None:
                queryset = queryset.filter(**{f"{self.field}__gt": after})
            rows = list(queryset.order_by(self.field)[: size + 1])
            more_after = len(rows) > size
            rows = rows[:size]
            self.next_after = self._key(rows[-1]) if more_after else None
            # Come from a page before (?after=): the way back starts at this page's first row.
            self.previous_before = self._key(rows[0]) if rows and after is not None else None
        return rows

    def get_paginated_response(self, data) -> Response:
        return Response(
            {"next": self.get_next_link(), "previous": self.get_previous_link(), "results": data}
        )

    def get_next_link(self) -> str | None:
        if self.next_after is None:
            return None
        url = remove_query_param(self.request.build_absolute_uri(), "before")
        return replace_query_param(url, "after", self.next_after)

    def get_previous_link(self) -> str | None:
        if self.previous_before is None:
            return None
        url = remove_query_param(self.request.build_absolute_uri(), "after")
        return replace_query_param(url, "before", self.previous_before)

    def _key(self, row) -> int:
        return getattr(row, self.field)

    def _page_size(self, params) -> int:
        """As StandardPagination reads it: a whole number from 1 to the maximum, or a 400."""
        size = whole_number(
            params, self.page_size_query_param, minimum=1, maximum=self.max_page_size
        )
        return size or self.page_size

    @staticmethod
    def _position(params, name: str) -> int | None:
        value = params.get(name)
        if value is None:
            return None
        try:
            position = int(value)
        except ValueError:
            position = -1
        if position < 0:
            raise ValidationError(
                {
                    name: [
                        f"{value!r} is not a position: give a whole number, 0 or more, "
                        "as the `next` and `previous` links do."
                    ]
                }
            )
        return position

    def get_schema_operation_parameters(self, view) -> list:
        return []  # the view declares KEYSET_PARAMETERS itself, beside its filters

    @classmethod
    def schema_parameters(cls) -> list[OpenApiParameter]:
        return [
            OpenApiParameter(
                "after",
                {"type": "integer", "minimum": 0},
                description=f"rows after this {cls.field} (the `next` link gives it); "
                "without after or before: the first page",
            ),
            OpenApiParameter(
                "before",
                {"type": "integer", "minimum": 0},
                description=f"rows before this {cls.field}, going back",
            ),
            OpenApiParameter(
                cls.page_size_query_param,
                {"type": "integer", "minimum": 1, "maximum": cls.max_page_size},
                description=f"rows a page (default {cls.page_size}, at most {cls.max_page_size})",
            ),
        ]
