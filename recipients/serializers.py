from __future__ import annotations

from rest_framework import serializers

from recipients.models import Recipient


class RecipientSerializer(serializers.ModelSerializer):
    recipientId = serializers.CharField(source="recipient_id")
    contactEmails = serializers.ListField(child=serializers.EmailField(), source="contact_emails")
    allowedDestinations = serializers.ListField(
        child=serializers.CharField(), source="allowed_destinations"
    )
    notifyContacts = serializers.BooleanField(source="notify_contacts")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")

    class Meta:
        model = Recipient
        fields = [
            "recipientId",
            "name",
            "organisation",
            "contactEmails",
            "allowedDestinations",
            "notifyContacts",
            "notes",
            "active",
            "createdAt",
            "updatedAt",
        ]
