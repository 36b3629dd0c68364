"""Recipients, read-only: operators manage them in the console."""

from __future__ import annotations

import django_filters as filters
from rest_framework import viewsets

from recipients.models import Recipient
from recipients.serializers import RecipientSerializer
from sharing_project.filters import StrictFilterSet
from sharing_project.permissions import CanViewModel


class RecipientFilter(StrictFilterSet):
    active = filters.BooleanFilter()

    class Meta:
        model = Recipient
        fields: list[str] = []


class RecipientViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [CanViewModel]
    queryset = Recipient.objects.all()
    serializer_class = RecipientSerializer
    filterset_class = RecipientFilter
    lookup_field = "recipient_id"
    lookup_url_kwarg = "recipientId"
    lookup_value_regex = "[^/]+"
