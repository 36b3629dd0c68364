"""GA4GH DRS 1.2 on the share links: a pull share read by any DRS client, the share link's
token being the bearer token (docs/drs.md).

    GET /ga4gh/drs/v1/service-info                               no token
    GET /ga4gh/drs/v1/objects/<object id>[?expand=true]           Authorization: Bearer <token>
    GET /ga4gh/drs/v1/objects/<object id>/access/<access id>      the same

Ids: a share is a bundle whose id is its job's id (a UUID); each of its files is
"<job id>.<position>". A file has one access method, https (access id "https"), answered with a
fresh presigned URL living SHARE_LINK_REDIRECT_SECONDS, as the download link's redirect is.

Every answer but a 200 carries a DRS error object {"msg", "status_code"}:
  401  no bearer token (with WWW-Authenticate: Bearer);
  404  an unknown token, or an object that is not in the token's share: the same answer for
       both, so that a token tells nothing of other shares;
  403  a revoked share (the custodian's message), and an expired one: DRS 1.2 documents 400,
       401, 403, 404 and 500 and nothing else. The download link answers 410 for an expired
       share, which its own script knows; a generic DRS client knows 403 as "not allowed any
       more" and shows the message, which says the share expired and whom to ask;
  400  an id of neither form.
Every request to the objects is in the access log (via drs), refused or not, and throttled
per link like the download link's (ShareLinkView).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import QuerySet
from rest_framework.exceptions import APIException
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.models import JobObject
from sharelinks.models import LinkState, ShareLink, Via
from sharelinks.services import record_access
from sharelinks.views import ShareLinkView, availability
from sharing_project.s3.archive import ARCHIVED, GONE, READABLE, request_restore
from sharing_project.s3.presign import fresh_url

DRS_VERSION = "1.2.0"
SERVICE_VERSION = "0.1.0"  # pyproject.toml's
ACCESS_ID = "https"
_ID = re.compile(
    r"(?P<job>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    r"(?:\.(?P<position>[0-9]{1,10}))?"
)
# The least a restore from the archive takes, by RESTORE_TIER (AWS's figures for GLACIER;
# DEEP_ARCHIVE's are longer): what Retry-After tells a client to wait before asking again.
RESTORE_WAIT_SECONDS = {"Expedited": 5 * 60, "Standard": 3 * 3600, "Bulk": 5 * 3600}
# Per file: the checksums known from the source, strongest first.
_FILE_DIGESTS = (("sha-256", "sha256"), ("md5", "md5"))


@dataclass(frozen=True)
class DrsId:
    job_id: str
    position: int | None  # None: the share itself, as a bundle


def parse_id(object_id: str) -> DrsId | None:
    """The share or file an id names, or None for an id of neither form."""
    match = _ID.fullmatch(object_id.lower())
    if match is None:
        return None
    position = match["position"]
    return DrsId(match["job"], int(position) if position is not None else None)


def drs_error(status_code: int, msg: str, **headers: str) -> Response:
    return Response({"msg": msg, "status_code": status_code}, status=status_code, headers=headers)


def public_base_url() -> str:
    return settings.PUBLIC_BASE_URL or ""


def drs_uri(object_id: str) -> str:
    """The hostname-based DRS URI: drs://<host of PUBLIC_BASE_URL>/<id> (a client resolves it
    to https://<host>/ga4gh/drs/v1/objects/<id>, so the service must be served at the root of
    its host for these URIs to resolve)."""
    return f"drs://{urlsplit(public_base_url()).netloc}/{object_id}"


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def file_id(item: JobObject) -> str:
    return f"{item.job_id}.{item.position}"


def file_checksums(item: JobObject) -> list[dict]:
    """The file's content checksums as the source's records hold them (SHA-256, MD5). A file
    with neither gets its S3 ETag as type "etag" (DRS's own suggestion for a storage provider's
    checksum): DRS requires one, and the ETag is what S3 holds; of an object uploaded in one
    part it is the MD5, of one in parts ("<hex>-<parts>") a checksum of its parts' MD5s."""
    known = [
        {"type": name, "checksum": getattr(item, field)}
        for name, field in _FILE_DIGESTS
        if getattr(item, field)
    ]
    etag = item.etag.strip('"')
    return known or ([{"type": "etag", "checksum": etag}] if etag else [])


def bundle_checksums(files: list[list[dict]]) -> list[dict]:
    """DRS 1.2's bundle checksum, from its files' checksums (file_checksums), for each type that
    every file has: that digest of the sorted concatenation of the files' hex checksums
    (md5(concat(sort(md5(file)...)))). The files' "etag" checksums make one too when no digest
    covers them all: the MD5 of that concatenation, which is the ETag S3 would give it as an
    object of one part."""
    answer = []
    for name, digest in (("sha-256", hashlib.sha256), ("md5", hashlib.md5), ("etag", hashlib.md5)):
        if name == "etag" and answer:
            break
        values = [next((s["checksum"] for s in file if s["type"] == name), "") for file in files]
        if all(values):
            joined = "".join(sorted(values)).encode()
            answer.append({"type": name, "checksum": digest(joined).hexdigest()})
    return answer


def file_object(item: JobObject, link: ShareLink) -> dict:
    object_id = file_id(item)
    return {
        "id": object_id,
        "name": item.relative_path.rsplit("/", 1)[-1],
        "self_uri": drs_uri(object_id),
        "size": item.size,
        "created_time": rfc3339(link.created_at),
        "checksums": file_checksums(item),
        "access_methods": [{"type": "https", "access_id": ACCESS_ID}],
        "description": f"{item.relative_path}, shared in {link.job_id}",
    }


def bundle_object(link: ShareLink, files: QuerySet) -> dict:
    """The share as a DRS bundle of its files. The bundle is flat: each file's name in it is
    its relative path, unique in the share, so a client that materialises the bundle lays it
    out as the download script does. With no nested bundle, ?expand=true answers the same.
    The files are read in chunks and only their entries kept: a share can hold 100,000s."""
    object_id = str(link.job_id)
    contents, sums, size = [], [], 0
    for item in files.iterator(chunk_size=2000):
        contents.append(
            {"name": item.relative_path, "id": file_id(item), "drs_uri": [drs_uri(file_id(item))]}
        )
        sums.append(file_checksums(item))
        size += item.size
    return {
        "id": object_id,
        "name": f"share-{object_id}",
        "self_uri": drs_uri(object_id),
        "size": size,
        "created_time": rfc3339(link.created_at),
        "checksums": bundle_checksums(sums),
        "description": f"Pull share {object_id}: {len(contents)} file(s).",
        "contents": contents,
    }


def shared_files(link: ShareLink) -> QuerySet:
    return (
        JobObject.objects.shared()
        .filter(job_id=link.job_id)
        .only("job_id", "position", "relative_path", "size", "md5", "sha256", "etag")
        .order_by("position")
    )


def service_info() -> dict:
    base = public_base_url()
    host = urlsplit(base).hostname or "localhost"
    contact = settings.DATA_CUSTODIAN_CONTACT
    email = re.search(r"[^\s<>]+@[^\s<>]+", contact)
    info = {
        "id": ".".join(reversed(host.split("."))) + ".drs",
        "name": "Data Sharing Manager: GA4GH DRS",
        "type": {"group": "org.ga4gh", "artifact": "drs", "version": DRS_VERSION},
        "description": "The pull shares of the Data Sharing Manager, read with the share "
        "link's token as bearer token: a share is a bundle, each of its files an object.",
        "organization": {
            "name": settings.DRS_ORGANIZATION_NAME or host,
            "url": settings.DRS_ORGANIZATION_URL or base,
        },
        "environment": "dev" if settings.DEBUG else "prod",
        "version": SERVICE_VERSION,
    }
    if email:
        info["contactUrl"] = f"mailto:{email[0]}"
    return info


class ServiceInfoView(APIView):
    """GA4GH service-info: who serves these shares, and which DRS. It carries no token and
    tells nothing of any share, so it is neither authenticated nor in the access log."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer]
    schema = None  # not part of the operators' API (docs/drs.md documents it)

    def get(self, request: Request) -> Response:
        return Response(service_info())


class DrsView(ShareLinkView):
    """A DRS request: the token from the Authorization header, DRS error objects, via drs."""

    renderer_classes = [JSONRenderer]
    via = Via.DRS

    def presented_token(self, request: Request, kwargs: dict) -> str:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        self.presented = token.strip() if scheme.lower() == "bearer" else ""
        return self.presented

    def resource_name(self) -> str:
        return "drs" + self.request.path.split("/ga4gh/drs/v1", 1)[-1]

    def refuse(self, request: Request) -> Response | None:
        answer = self.refusal()
        if answer is not None:
            record_access(
                request, self.link, self.resource_name(), answer.status_code, via=self.via
            )
        return answer

    def refusal(self) -> Response | None:
        if not self.presented:
            return drs_error(
                401,
                "Send the share link's token as a bearer token: Authorization: Bearer <token>.",
                **{"WWW-Authenticate": 'Bearer realm="GA4GH DRS"'},
            )
        if self.link is None:
            return self.not_found()
        state = self.link.state
        if state == LinkState.REVOKED:
            return drs_error(403, self.link.revoked_message())
        if state == LinkState.EXPIRED:
            return drs_error(403, self.link.expired_message())
        return None

    def not_found(self) -> Response:
        """The one answer for an unknown token and an object of another share."""
        return drs_error(
            404,
            f"No object {self.kwargs['object_id']} is shared with this bearer token: check "
            "the object id and the token (the share link's).",
        )

    def answer(
        self, response: Response, item: JobObject | None = None, size: int | None = None
    ) -> Response:
        """`response`, recorded in the access log."""
        record_access(
            self.request,
            self.link,
            self.resource_name(),
            response.status_code,
            via=self.via,
            job_object=item,
            size=size,
        )
        return response

    def found(self, object_id: str) -> tuple[DrsId | None, Response | None]:
        """What the id names in the token's share, or the answer when it names nothing there."""
        named = parse_id(object_id)
        if named is None:
            return None, self.answer(
                drs_error(
                    400,
                    f"object_id {object_id!r} is not a DRS id of this service: a share's id "
                    "(its job id, a UUID) or a file's (<job id>.<position>).",
                )
            )
        if named.job_id != str(self.link.job_id):
            return None, self.answer(self.not_found())
        return named, None

    def handle_exception(self, exc: Exception) -> Response:
        """DRF's own refusals (429 from the throttle, 405...) as DRS error objects."""
        response = super().handle_exception(exc)
        if isinstance(exc, APIException):
            response.data = {"msg": str(exc.detail), "status_code": response.status_code}
        return response


class DrsObjectView(DrsView):
    def get(self, request: Request, object_id: str) -> Response:
        if answer := self.refuse(request):
            return answer
        named, answer = self.found(object_id)
        if answer is not None:
            return answer
        files = shared_files(self.link)
        if named.position is None:
            return self.answer(Response(bundle_object(self.link, files)))
        item = files.filter(position=named.position).first()
        if item is None:
            return self.answer(self.not_found())
        return self.answer(Response(file_object(item, self.link)), item)


class DrsAccessView(DrsView):
    """A file's bytes: a fresh presigned URL, once the object is found readable.

    An object archived since the share was made (Glacier, Deep Archive, Intelligent-Tiering's
    archive tiers) cannot be read until S3 restores it, which takes hours. When a restore is
    under way, or this share's launch allowed restores (defrostArchivedFastqs), the access is
    answered as DRS 1.2 answers data not available now: 202 Accepted with Retry-After (the
    tier's usual restore time), the restore requested first if none is under way. Otherwise the
    answer is 403: restoring costs the data custodian money and the launch did not allow it, so
    this token may not cause one; DRS documents 403 for what a requester may not do, and the
    message says whom to ask. An object the custodian no longer holds is 404.
    """

    def get(self, request: Request, object_id: str, access_id: str) -> Response:
        if answer := self.refuse(request):
            return answer
        named, answer = self.found(object_id)
        if answer is not None:
            return answer
        item = None
        if named.position is not None and access_id == ACCESS_ID:
            item = shared_files(self.link).filter(position=named.position).first()
        if item is None:
            return self.answer(
                drs_error(
                    404,
                    f"No access {access_id!r} for object {object_id}: a file's one access id "
                    f"is {ACCESS_ID!r}; a bundle has none (fetch each of its contents).",
                )
            )
        return self.access(item)

    def access(self, item: JobObject) -> Response:
        state = availability(item)
        if state == READABLE:
            return self.answer(Response({"url": fresh_url(item.source_uri)}), item, item.size)
        if state == GONE:
            return self.answer(
                drs_error(404, f"{item.relative_path}: the data custodian no longer holds it."),
                item,
            )
        defrost = bool(self.link.job.config.get("defrostArchivedFastqs", False))
        if state == ARCHIVED and not defrost:
            return self.answer(
                drs_error(
                    403,
                    f"{item.relative_path} was archived since the share was made, and this "
                    "share does not allow restoring it: ask the data custodian "
                    f"({settings.DATA_CUSTODIAN_CONTACT}) to restore it, then ask again.",
                ),
                item,
            )
        if state == ARCHIVED:
            request_restore(item.source_uri, days=settings.RESTORE_DAYS, tier=settings.RESTORE_TIER)
        wait = RESTORE_WAIT_SECONDS[settings.RESTORE_TIER]
        return self.answer(
            drs_error(
                202,
                f"{item.relative_path} is being restored from the archive: ask again in "
                f"{wait // 60} minutes.",
                **{"Retry-After": str(wait)},
            ),
            item,
        )
