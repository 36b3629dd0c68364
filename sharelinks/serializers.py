"""What the job API shows of a share link: its state, what was downloaded, the last receipt,
and the body of a revocation. camelCase, read-only (but RevokeSerializer)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from jobs.models import JobObject
from sharelinks.downloads import (
    NOT_FETCHED,
    ObjectDownloads,
    download_counts,
    latest_receipt,
)
from sharelinks.models import LinkState, Receipt, ShareAccess, ShareLink, Via

REASON_LENGTH = 500


class RevokeSerializer(serializers.Serializer):
    """A revocation's reason: the API's body, the console's form and --reason all pass it."""

    reason = serializers.CharField(
        max_length=REASON_LENGTH,
        help_text="why the link is revoked, for the audit trail and the job's log "
        f"(at most {REASON_LENGTH} characters)",
        error_messages={
            "required": "Say why the link is revoked: give a reason.",
            "blank": "Say why the link is revoked: the reason cannot be blank.",
            "max_length": f"Shorten the reason to {REASON_LENGTH} characters at most.",
        },
    )


class DownloadCountsSerializer(serializers.Serializer):
    filesTotal = serializers.IntegerField(source="files_total", help_text="the job's objects")
    filesFetched = serializers.IntegerField(
        source="files_fetched", help_text="objects asked for at least once, and allowed"
    )
    requests = serializers.IntegerField(
        help_text="every request made with the link (files, script, lists, receipt, DRS)"
    )
    refused = serializers.IntegerField(
        help_text="of those, refused: revoked, expired, throttled, unknown file"
    )


class ReceiptSerializer(serializers.ModelSerializer):
    receivedAt = serializers.DateTimeField(source="received_at")
    filesTotal = serializers.IntegerField(source="files_total")
    filesOk = serializers.IntegerField(
        source="files_ok", help_text="downloaded or already there, found good"
    )
    filesVerified = serializers.IntegerField(
        source="files_verified", help_text="of those, checked by their checksum"
    )
    filesFailed = serializers.IntegerField(source="files_failed")
    filesSkipped = serializers.IntegerField(
        source="files_skipped", help_text="kept unchecked (--skip-existing)"
    )
    summary = serializers.CharField(help_text="the receipt in a sentence, as the console says it")

    class Meta:
        model = Receipt
        fields = [
            "receivedAt",
            "filesTotal",
            "filesOk",
            "filesVerified",
            "filesFailed",
            "filesSkipped",
            "bytes",
            "summary",
        ]


class ShareLinkSerializer(serializers.ModelSerializer):
    """A pull's share link as its job shows it (never its token: the outputs hold the link)."""

    state = serializers.ChoiceField(choices=LinkState.choices)
    createdAt = serializers.DateTimeField(source="created_at")
    expiresAt = serializers.DateTimeField(source="expires_at")
    revokedAt = serializers.DateTimeField(source="revoked_at", allow_null=True)
    revokedBy = serializers.CharField(source="revoked_by.username", default=None, allow_null=True)
    revokeReason = serializers.CharField(source="revoke_reason")
    downloads = serializers.SerializerMethodField()
    receipt = serializers.SerializerMethodField()

    class Meta:
        model = ShareLink
        fields = [
            "state",
            "createdAt",
            "expiresAt",
            "revokedAt",
            "revokedBy",
            "revokeReason",
            "downloads",
            "receipt",
        ]

    @extend_schema_field(DownloadCountsSerializer)
    def get_downloads(self, link: ShareLink) -> dict:
        return DownloadCountsSerializer(download_counts(link)).data

    @extend_schema_field(ReceiptSerializer(allow_null=True, help_text="the latest; null: none yet"))
    def get_receipt(self, link: ShareLink) -> dict | None:
        receipt = latest_receipt(link)
        return ReceiptSerializer(receipt).data if receipt is not None else None


class ObjectDownloadSerializer(serializers.Serializer):
    """One object of the job and what its link served of it."""

    position = serializers.IntegerField(help_text="its place in the manifest: what ?after= takes")
    relativePath = serializers.CharField(source="relative_path")
    sourceUri = serializers.CharField(source="source_uri")
    size = serializers.IntegerField()
    fetchCount = serializers.IntegerField(help_text="allowed requests for it")
    firstFetchedAt = serializers.DateTimeField(allow_null=True)
    lastFetchedAt = serializers.DateTimeField(allow_null=True)
    bytesRequested = serializers.IntegerField(
        help_text="the bytes those requests asked for: a resumed download asks for what it lacked"
    )

    def to_representation(self, item: tuple[JobObject, ObjectDownloads]) -> dict:
        job_object, fetched = item
        when = serializers.DateTimeField()
        return {
            "position": job_object.position,
            "relativePath": job_object.relative_path,
            "sourceUri": job_object.source_uri,
            "size": job_object.size,
            "fetchCount": fetched.fetch_count,
            "firstFetchedAt": when.to_representation(fetched.first_fetched_at)
            if fetched.first_fetched_at
            else None,
            "lastFetchedAt": when.to_representation(fetched.last_fetched_at)
            if fetched.last_fetched_at
            else None,
            "bytesRequested": fetched.bytes_requested,
        }


def object_rows(objects: list[JobObject], downloads: dict[int, ObjectDownloads]) -> list:
    return [(o, downloads.get(o.pk, NOT_FETCHED)) for o in objects]


class ShareAccessSerializer(serializers.ModelSerializer):
    """One request of the access log, as the export writes it. Tokens are not stored."""

    via = serializers.ChoiceField(choices=Via.choices)
    relativePath = serializers.CharField(
        source="job_object.relative_path",
        default=None,
        allow_null=True,
        help_text="the shared file asked for; null for the script, the lists, the receipt",
    )
    clientAddress = serializers.IPAddressField(source="client_address", allow_null=True)
    userAgent = serializers.CharField(source="user_agent")

    class Meta:
        model = ShareAccess
        fields = [
            "at",
            "resource",
            "relativePath",
            "via",
            "allowed",
            "status",
            "bytes",
            "clientAddress",
            "userAgent",
        ]
        read_only_fields = fields


ACCESS_COLUMNS = ShareAccessSerializer.Meta.fields
