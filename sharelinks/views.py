"""The download endpoint: what a share link answers, request by request.

    GET  /s/<token>/                     the link's state, one line of text
    GET  /s/<token>/data-download.sh     the script, naming this link
    GET  /s/<token>/lims.csv             (and checksums.md5, checksums.sha256)
    GET  /s/<token>/files/<position>     a shared file
    POST /s/<token>/receipt              the script's verified summary

A file is answered with a redirect to a presigned URL that lives minutes
(SHARE_LINK_REDIRECT_SECONDS). A revoked link answers 403, an expired one 410, an unknown or
malformed token 404, each with one line the script shows as it is; every request, whatever
its answer, is in the access log. The token is the credential: no session, no API token.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.conf import settings
from django.http import HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from rest_framework import serializers, status
from rest_framework.exceptions import Throttled
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from audit.context import client_address
from jobs.models import JobObject
from sharelinks.models import CHECKSUM_NAMES, LIMS_NAME, SCRIPT_NAME, LinkState, ShareLink, Via
from sharelinks.services import record_access, record_receipt
from sharelinks.tokens import find_link
from sharing_project.s3.archive import GONE, READABLE
from sharing_project.s3.archive import availability as object_availability
from sharing_project.s3.objects import open_object
from sharing_project.s3.presign import fresh_url

SHARE_URL_PLACEHOLDER = b"@@SHARE_URL@@"
UNKNOWN = "No share has this link: check that it was copied whole, or ask the data provider for it."


class ShareLinkThrottle(SimpleRateThrottle):
    """SHARE_LINK_RATE requests per link (per client address for a token that matches none),
    then 429 with Retry-After.

    The address is the audit trail's (FORWARDED_FOR_PROXIES), not DRF's `get_ident`, which
    takes any X-Forwarded-For a client writes: a guesser would send a new one each time."""

    scope = "share_link"

    def get_rate(self) -> str | None:
        return settings.SHARE_LINK_RATE

    def get_cache_key(self, request: Request, view) -> str:
        link = getattr(view, "link", None)
        ident = f"link-{link.pk}" if link is not None else f"unknown-{client_address(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


def text(message: str, status_code: int) -> HttpResponse:
    return HttpResponse(
        f"{message}\n", status=status_code, content_type="text/plain; charset=utf-8"
    )


def refusal(link: ShareLink | None) -> HttpResponse | None:
    """The answer to a request the link does not allow (None: allowed)."""
    if link is None:
        return text(UNKNOWN, status.HTTP_404_NOT_FOUND)
    state = link.state
    if state == LinkState.REVOKED:
        return text(link.revoked_message(), status.HTTP_403_FORBIDDEN)
    if state == LinkState.EXPIRED:
        return text(link.expired_message(), status.HTTP_410_GONE)
    return None


class ShareLinkView(APIView):
    """Finds the link before anything else (the throttle counts per link), records every
    answer, including a throttled one."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ShareLinkThrottle]
    resource = ""
    schema = None  # not part of the operators' API (docs/pull.md documents it)

    def initial(self, request: Request, *args, **kwargs) -> None:
        self.link = find_link(self.presented_token(request, kwargs))
        super().initial(request, *args, **kwargs)

    def presented_token(self, request: Request, kwargs: dict) -> str:
        """The token the request names: the path's (DRS reads it from the Authorization
        header instead)."""
        return kwargs.get("token", "")

    def check_throttles(self, request: Request) -> None:
        try:
            super().check_throttles(request)
        except Throttled:
            record_access(request, self.link, self.resource_name(), 429, via=self.via)
            raise

    via = Via.DOWNLOAD

    def resource_name(self) -> str:
        return self.resource or self.request.path.rsplit("/", 1)[-1]

    def refuse(self, request: Request) -> HttpResponse | None:
        answer = refusal(self.link)
        if answer is not None:
            record_access(
                request, self.link, self.resource_name(), answer.status_code, via=self.via
            )
        return answer


class LinkStateView(ShareLinkView):
    resource = "state"

    def get(self, request: Request, token: str) -> HttpResponse:
        if answer := self.refuse(request):
            return answer
        link = self.link
        record_access(request, link, self.resource, 200)
        return text(
            f"Share {link.job_id}: {link.job.objects_total} file(s), valid until "
            f"{link.expires_at:%Y-%m-%d %H:%M} UTC.",
            200,
        )


class SharedFileView(ShareLinkView):
    """A shared object: a redirect to a fresh presigned URL, once the object is found readable
    (gone: 404; archived since the share was made: 409)."""

    def resource_name(self) -> str:
        return f"files/{self.kwargs.get('position')}"

    def get(self, request: Request, token: str, position: int) -> HttpResponse:
        if answer := self.refuse(request):
            return answer
        item = JobObject.objects.filter(job=self.link.job, position=position).first()
        if item is None:
            record_access(request, self.link, self.resource_name(), 404)
            return text(f"This share has no file {position}.", 404)
        answer = _unavailable(item)
        if answer is not None:
            record_access(
                request, self.link, self.resource_name(), answer.status_code, job_object=item
            )
            return answer
        record_access(
            request, self.link, self.resource_name(), 302, job_object=item, size=item.size
        )
        return HttpResponseRedirect(fresh_url(item.source_uri))


def availability(item: JobObject) -> str:
    """Whether a shared object can be read now (sharing_project.s3.archive.availability)."""
    return object_availability(item.source_uri)


def _unavailable(item: JobObject) -> HttpResponse | None:
    state = availability(item)
    if state == GONE:
        return text(f"{item.relative_path}: the data custodian no longer holds this file.", 404)
    if state != READABLE:
        return text(
            f"{item.relative_path}: archived since the share was made; ask the data custodian "
            "to restore it, then run the script again.",
            409,
        )
    return None


class ShareFileView(ShareLinkView):
    """The LIMS CSV and the checksum lists: redirects, like the shared files."""

    def get(self, request: Request, token: str, name: str) -> HttpResponse:
        if answer := self.refuse(request):
            return answer
        uri = _share_file_uri(self.link, name)
        if not uri:
            record_access(request, self.link, name, 404)
            return text(f"This share has no {name}.", 404)
        record_access(request, self.link, name, 302)
        return HttpResponseRedirect(fresh_url(uri))


def _share_file_uri(link: ShareLink, name: str) -> str:
    job = link.job
    if name == LIMS_NAME:
        return job.lims_csv_uri
    if name in CHECKSUM_NAMES and job.download_script_uri:
        # Both lists sit beside the script; the job names the one it hands out.
        folder = job.download_script_uri.rsplit("/", 1)[0]
        return f"{folder}/{name}" if _exists(f"{folder}/{name}") else ""
    return ""


def _exists(uri: str) -> bool:
    return object_availability(uri) != GONE


class ScriptView(ShareLinkView):
    """The download script as stored, with this link put in: the stored copy names none."""

    resource = SCRIPT_NAME

    def get(self, request: Request, token: str) -> HttpResponse:
        if answer := self.refuse(request):
            return answer
        link = self.link
        if not link.job.download_script_uri:
            record_access(request, link, self.resource, 404)
            return text("This share has no download script.", 404)
        share_url = f"{link.base_url}/s/{token}".encode()
        body, length = open_object(link.job.download_script_uri)
        record_access(request, link, self.resource, 200)
        response = StreamingHttpResponse(
            _with_share_url(body, share_url), content_type="text/x-shellscript"
        )
        response["Content-Length"] = str(length - len(SHARE_URL_PLACEHOLDER) + len(share_url))
        response["Content-Disposition"] = f'attachment; filename="{SCRIPT_NAME}"'
        return response


def _with_share_url(body, share_url: bytes, chunk: int = 1024 * 1024) -> Iterator[bytes]:
    """The script's bytes with its one placeholder replaced (it is in the first lines)."""
    try:
        head = body.read(chunk)
        if SHARE_URL_PLACEHOLDER not in head:
            raise ValueError("the stored download script has no share link placeholder")
        yield head.replace(SHARE_URL_PLACEHOLDER, share_url, 1)
        while block := body.read(chunk):
            yield block
    finally:
        body.close()


# The largest numbers the receipt's columns hold (PositiveIntegerField, BigIntegerField on
# PostgreSQL): a larger one is the client's mistake, a 400, not the database's error, a 500.
MAX_FILES = 2**31 - 1
MAX_BYTES = 2**63 - 1


class ReceiptSerializer(serializers.Serializer):
    files_total = serializers.IntegerField(min_value=0, max_value=MAX_FILES)
    files_ok = serializers.IntegerField(min_value=0, max_value=MAX_FILES)
    files_verified = serializers.IntegerField(min_value=0, max_value=MAX_FILES)
    files_failed = serializers.IntegerField(min_value=0, max_value=MAX_FILES)
    files_skipped = serializers.IntegerField(min_value=0, max_value=MAX_FILES)
    bytes = serializers.IntegerField(min_value=0, max_value=MAX_BYTES)

    def validate(self, data: dict) -> dict:
        if data["files_verified"] > data["files_ok"]:
            raise serializers.ValidationError(
                {"files_verified": "cannot be more than files_ok (the files found good)."}
            )
        if data["files_ok"] + data["files_failed"] + data["files_skipped"] > data["files_total"]:
            raise serializers.ValidationError(
                {"files_total": "must be at least files_ok + files_failed + files_skipped."}
            )
        return data


class ReceiptView(ShareLinkView):
    resource = "receipt"

    def post(self, request: Request, token: str) -> HttpResponse | Response:
        if answer := self.refuse(request):
            return answer
        serializer = ReceiptSerializer(data=request.data)
        if not serializer.is_valid():
            record_access(request, self.link, self.resource, 400)
            return Response(serializer.errors, status=400)
        receipt = record_receipt(request, self.link, serializer.validated_data)
        record_access(request, self.link, self.resource, 201)
        return text(f"Receipt recorded: {receipt.summary()}.", 201)
