from __future__ import annotations

from rest_framework import serializers

from audit.models import ActorKind, AuditAction, AuditEvent


class AuditEventSerializer(serializers.ModelSerializer):
    """An event as the API, its export and audit_report show it (camelCase)."""

    action = serializers.ChoiceField(choices=AuditAction.choices)
    actor = serializers.CharField(
        source="actor.username",
        default=None,
        allow_null=True,
        help_text="the user who acted; for a worker's events, the job's launcher",
    )
    actorKind = serializers.ChoiceField(
        source="actor_kind", choices=ActorKind.choices, help_text="how the actor came"
    )
    credential = serializers.CharField(
        help_text="which API token, by its user and creation time (never its key)"
    )
    clientAddress = serializers.IPAddressField(source="client_address", allow_null=True)
    jobId = serializers.UUIDField(source="job_id", allow_null=True)
    recipientId = serializers.CharField(
        source="recipient.recipient_id", default=None, allow_null=True
    )
    details = serializers.JSONField(
        help_text="the facts of the action: a launch's normalised request, an end's counts "
        "and bytes, a recipient's changed fields ([old, new])"
    )

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "at",
            "action",
            "actor",
            "actorKind",
            "credential",
            "clientAddress",
            "jobId",
            "recipientId",
            "purpose",
            "details",
        ]
        read_only_fields = fields


COLUMNS = AuditEventSerializer.Meta.fields
