"""Query filters that refuse what their schema forbids, and the schema that says so.

django-filter leaves out a filter whose value it cannot use: `?archived=-1`, `?status=` or
`?createdAfter=` list everything, as if the client had asked for nothing, and a typo goes
unnoticed. A StrictFilterSet answers 400 naming the parameter instead; StrictFilterExtension
writes the same rules into the OpenAPI schema (no empty values, booleans are true or false),
so that a client, and schemathesis in tests/test_api_fuzz.py, reads what the API accepts.
"""

from __future__ import annotations

from datetime import UTC

import django_filters as filters
from django import forms
from django_filters.fields import IsoDateTimeField
from drf_spectacular.contrib.django_filters import DjangoFilterExtension
from drf_spectacular.utils import OpenApiParameter

BOOLEANS = ("true", "false")
# Django's forms refuse a NUL character in any text (PostgreSQL cannot store one), and an item
# of a comma-separated list cannot hold a comma.
NO_NUL = "^[^\\x00]*$"
NO_NUL_NOR_COMMA = "^[^,\\x00]*$"


class IntegerFilter(filters.NumberFilter):
    """A whole number (django-filter's NumberFilter takes decimals: `?lane=1.5` matched nothing)."""

    field_class = forms.IntegerField


class UtcDateTimeField(IsoDateTimeField):
    """An ISO 8601 time, as UTC: any offset Python reads (up to a day) is accepted, whereas
    PostgreSQL refuses one past 15:59 ("time zone displacement out of range": a 500); a time
    that has no UTC equivalent (the first hours of year 1 ahead of UTC) is a 400."""

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None or parsed.tzinfo is None:
            return parsed
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError(
                "This time is out of range once in UTC; give one between years 1 and 9999."
            ) from None


class UtcDateTimeFilter(filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class CharInFilter(filters.BaseInFilter, filters.CharFilter):
    """Comma-separated values: `?libraryId=L2400001,L2400002`."""


class StrictFilterSet(filters.FilterSet):
    """A FilterSet whose parameters, when given, must have a value it can use."""

    def is_valid(self) -> bool:
        """The form's own checks, then ours; ours is the one message given for a parameter
        (django-filter's own for an empty choice, "  is not one of the available choices",
        says less)."""
        valid = super().is_valid()
        for name, message in self._raw_problems():
            self.form.errors[name] = self.form.error_class([message])
            self.form.cleaned_data.pop(name, None)
            valid = False
        return valid

    def _raw_problems(self) -> list[tuple[str, str]]:
        """What the form lets through: empty values, empty items of a list, booleans other
        than true and false."""
        problems = []
        for name, given in self.filters.items():
            for value in self.data.getlist(name) if self.data is not None else []:
                problem = _problem(given, value)
                if problem:
                    problems.append((name, f"{value!r}: {problem}"))
                    break
        return problems


def _problem(given: filters.Filter, value: str) -> str | None:
    if value == "":
        return "give a value, or leave the parameter out."
    if isinstance(given, filters.BaseCSVFilter) and "" in value.split(","):
        return "a comma-separated list with an empty item; remove the extra comma."
    if isinstance(given, filters.BooleanFilter) and value.strip().lower() not in BOOLEANS:
        return "give true or false."
    return None


class StrictFilterExtension(DjangoFilterExtension):
    """The schema of the API's filter parameters (every FilterSet of the API is a
    StrictFilterSet; tests/test_api_limits.py checks it): what `_problem` refuses is
    forbidden."""

    priority = 1

    def get_schema_operation_parameters(self, auto_schema, *args, **kwargs):
        parameters = super().get_schema_operation_parameters(auto_schema, *args, **kwargs)
        return [strict_parameter(parameter) for parameter in parameters]


def strict_parameter(parameter: dict) -> dict:
    """No empty value: a list has an item, a text (that is not already an enum, a date or a
    number) has a character."""
    schema = parameter["schema"]
    if schema.get("type") == "array":
        schema["minItems"] = 1
        comma_separated = parameter.get("explode") is False
        _non_empty(schema["items"], NO_NUL_NOR_COMMA if comma_separated else NO_NUL)
    else:
        _non_empty(schema, NO_NUL)
    return parameter


def _non_empty(schema: dict, pattern: str) -> None:
    if schema.get("type") == "string" and "enum" not in schema and "format" not in schema:
        schema["minLength"] = 1
        schema["pattern"] = pattern


def filter_parameters(filterset_class: type[StrictFilterSet]) -> list[OpenApiParameter]:
    """The schema of a filter set that a view applies itself (a job's objects), where
    drf-spectacular does not look: the same rules as StrictFilterExtension's."""
    parameters = []
    for name, given in filterset_class.base_filters.items():
        if isinstance(given, filters.ChoiceFilter):
            schema = {"type": "string", "enum": [value for value, _ in given.extra["choices"]]}
        elif isinstance(given, filters.BooleanFilter):
            schema = {"type": "boolean"}
        elif isinstance(given, filters.CharFilter):
            schema = {"type": "string", "minLength": 1, "pattern": NO_NUL}
        else:
            raise TypeError(f"{name}: no schema for {type(given).__name__}; add it here.")
        parameters.append(
            OpenApiParameter(name, schema, description=f"only objects with this {name}")
        )
    return parameters
