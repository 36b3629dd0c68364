"""Where a push writes: an S3 prefix the service can write to, or an ICAv2 folder written with
the temporary credentials ICAv2 hands out. Both offer the same few operations to jobs/push.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings

from jobs.models import JobObject
from shares.destinations import ICAV2_SCHEME, Destination, parse_destination
from sharing_project import icav2
from sharing_project.s3 import presign
from sharing_project.s3.checksums import Digests, hash_object
from sharing_project.s3.client import client_for_credentials
from sharing_project.s3.copy import Copied, CopyOptions, copy_object
from sharing_project.s3.objects import delete_object, list_objects, put_object, upload_file
from sharing_project.s3.stream import stream_copy


class S3Target:
    """A prefix this service writes to with its own credentials: server-side copies."""

    etags_comparable = True  # a single-request copy keeps the source's MD5 ETag

    def __init__(self, destination: Destination):
        self.prefix = str(destination)

    def listed(self) -> Iterator[tuple[str, int, str]]:
        """(destination URI, size, ETag) of everything already there, in key order (which
        is relative-path order): one listing, page by page."""
        return ((o.uri, o.size, o.etag) for o in list_objects(self.prefix))

    def put(self, relative_path: str, body: bytes, content_type: str) -> str:
        uri = self.prefix + relative_path
        put_object(uri, body, content_type=content_type)
        return uri

    def upload(self, relative_path: str, path: Path, content_type: str) -> str:
        """Write a local file (in parts when big) at `relative_path`; return its URI."""
        uri = self.prefix + relative_path
        upload_file(uri, path, content_type=content_type)
        return uri

    def delete(self, uri: str) -> None:
        delete_object(uri)

    def copy(self, item: JobObject, options: CopyOptions) -> Copied:
        # A source whose MD5 is known is proven by the copy's ETag: no CRC32 is asked of S3
        # (a second pass over the bytes, measured at a third of a push of large objects on
        # the embedded server); copies in parts always get one.
        return copy_object(
            item.source_uri, item.destination_uri, item.size, options, checksum=not item.md5
        )

    def read(self, uri: str) -> Digests:
        """The digests of an object at the destination, read back."""
        return hash_object(uri)

    def presigner(self) -> presign.Presigner:
        return presign.presigner(settings.PRESIGNED_URL_LIFETIME_SECONDS)

    def link_uri(self, uri: str) -> str:
        """The S3 URI to presign for a destination URI."""
        return uri


class Icav2Target:
    """An ICAv2 project folder: the source cannot be read with the folder's credentials, so
    each object is streamed through this process (multipart for large ones)."""

    # ICAv2 storage may encrypt with KMS, whose ETags are not MD5s: sizes are compared.
    etags_comparable = False

    def __init__(self, destination: Destination):
        self.destination = str(destination)
        self.credentials = icav2.folder_upload_credentials(
            destination.container, "/" + destination.path
        )
        c = self.credentials
        self.client = client_for_credentials(c.access_key, c.secret_key, c.session_token, c.region)

    def _s3_uri(self, relative_path: str) -> str:
        return self.credentials.s3_prefix + relative_path

    def listed(self) -> Iterator[tuple[str, int, str]]:
        prefix = self.credentials.s3_prefix
        return (
            (self.destination + o.uri[len(prefix) :], o.size, o.etag)
            for o in list_objects(prefix, using=self.client)
        )

    def put(self, relative_path: str, body: bytes, content_type: str) -> str:
        put_object(
            self._s3_uri(relative_path),
            body,
            content_type=content_type,
            using=self.client,
            extra=self.credentials.upload_extra_args(),
        )
        return self.destination + relative_path

    def upload(self, relative_path: str, path: Path, content_type: str) -> str:
        upload_file(
            self._s3_uri(relative_path),
            path,
            content_type=content_type,
            using=self.client,
            extra=self.credentials.upload_extra_args(),
        )
        return self.destination + relative_path

    def delete(self, uri: str) -> None:
        delete_object(self._s3_uri(uri[len(self.destination) :]), using=self.client)

    def copy(self, item: JobObject, options: CopyOptions) -> Copied:
        """Stream the object into the folder; the Copied carries the digests of the bytes
        read and the storage's CRC32 of the bytes written, which jobs.verify compares."""
        c = self.credentials
        return stream_copy(
            item.source_uri,
            self.client,
            c.bucket,
            c.key_for(item.relative_path),
            item.size,
            extra_args=c.upload_extra_args(),
        )

    def read(self, uri: str) -> Digests:
        return hash_object(self.link_uri(uri), using=self.client)

    def presigner(self) -> presign.Presigner:
        """Links signed with the folder's temporary credentials die with them."""
        asked = datetime.now(UTC) + timedelta(seconds=settings.PRESIGNED_URL_LIFETIME_SECONDS)
        return presign.Presigner(self.client, min(asked, self.credentials.expires_at))

    def link_uri(self, uri: str) -> str:
        return self._s3_uri(uri[len(self.destination) :])


def target_for(destination_uri: str) -> S3Target | Icav2Target:
    destination = parse_destination(destination_uri)
    if destination.scheme == ICAV2_SCHEME:
        return Icav2Target(destination)
    return S3Target(destination)
