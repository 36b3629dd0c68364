"""Share destinations, `s3://bucket/prefix/` and `icav2://project/path/`: validated, normalised."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from sharing_project.s3.uris import parse_s3_uri

_ICAV2 = re.compile(r"^icav2://(?P<project>[A-Za-z0-9][A-Za-z0-9_-]{0,99})(?P<path>/.*)?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

S3_SCHEME = "s3"
ICAV2_SCHEME = "icav2"


@dataclass(frozen=True)
class Destination:
    scheme: str
    container: str  # bucket or ICAv2 project
    path: str  # "" or "a/b/" (always ending with a slash)

    def __str__(self) -> str:
        return f"{self.scheme}://{self.container}/{self.path}"

    def uri_for(self, relative_path: str) -> str:
        return f"{self}{relative_path}"

    def within(self, prefix: Destination) -> bool:
        """True when this destination is the prefix's folder or a folder below it."""
        return (self.scheme, self.container) == (
            prefix.scheme,
            prefix.container,
        ) and self.path.startswith(prefix.path)


def parse_destination(uri: str) -> Destination:
    """Validate a destination and return it normalised (one trailing slash, no empty segments)."""
    uri = (uri or "").strip()
    if _CONTROL.search(uri):
        raise ValidationError("The destination contains a control character.")
    if uri.startswith("s3://"):
        try:
            target = parse_s3_uri(uri if "/" in uri[5:] else uri + "/", prefix=True)
        except ValidationError:
            raise ValidationError(
                f"{uri!r} is not a valid S3 destination; use s3://bucket/prefix/ with a valid "
                "bucket name (3-63 lower-case letters, digits, dots, hyphens)."
            ) from None
        return Destination(S3_SCHEME, target.bucket, _folder(target.key, uri))
    if uri.startswith("icav2://"):
        match = _ICAV2.match(uri)
        if not match:
            raise ValidationError(
                f"{uri!r} is not a valid ICAv2 destination; use icav2://<project id or name>/path/."
            )
        folder = _folder(match["path"] or "", uri)
        if not folder:
            raise ValidationError(
                f"{uri!r} names no folder; ICAv2 shares go into a project folder: "
                "icav2://project/path/."
            )
        return Destination(ICAV2_SCHEME, match["project"], folder)
    raise ValidationError(
        f"{uri!r} is not a destination this service can push to; "
        "use s3://bucket/prefix/ or icav2://project/path/."
    )


def parse_destination_prefix(uri: str) -> Destination:
    """A prefix destinations must lie under: a destination, or a whole ICAv2 project."""
    match = _ICAV2.match((uri or "").strip())
    if match and not _folder(match["path"] or "", uri):
        return Destination(ICAV2_SCHEME, match["project"], "")
    return parse_destination(uri)


def _folder(path: str, uri: str) -> str:
    segments = [segment for segment in path.split("/") if segment]
    if any(segment in (".", "..") for segment in segments):
        raise ValidationError(f"{uri!r} has a '.' or '..' segment; give the folder plainly.")
    return "".join(f"{segment}/" for segment in segments)
