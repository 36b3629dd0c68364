"""The collaborator's download script: a template in templates/ plus the file list as data.

The file list is a quoted here-document after the script's final `exit`: read with `read -r`,
never run (nor expanded, were it ever reached); each line is
`size TAB md5-or-- TAB relative path TAB URL`. Nothing a user or an object key supplies is ever
placed in the script's code: the template's placeholders take only values generated here (a
UUID, numbers, a date), and every path and URL is checked for the characters that could break
a data line before it is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings

from shares.resolve import unsafe_reason
from sharing_project.s3.uris import etag_md5

TEMPLATE = Path(settings.BASE_DIR) / "templates" / "data-download.sh"
MANIFEST_START = ": <<'__DSM_MANIFEST__'"
MANIFEST_END = "__DSM_MANIFEST__"
_URL = re.compile(r"^https?://[\x21-\x7e]+$")  # printable ASCII, no spaces or tabs


@dataclass(frozen=True)
class ScriptEntry:
    relative_path: str
    url: str
    size: int
    etag: str

    @property
    def md5(self) -> str:
        """The ETag of a single-part upload is the object's MD5; otherwise there is none."""
        return etag_md5(self.etag) or "-"


def render_download_script(job_id: str, entries: list[ScriptEntry], expires_at: datetime) -> str:
    """The whole script: the template with its values, then the file list as data."""
    text = TEMPLATE.read_text()
    values = {
        "@@JOB_ID@@": str(job_id),
        "@@FILE_COUNT@@": str(len(entries)),
        "@@TOTAL_BYTES@@": str(sum(e.size for e in entries)),
        "@@EXPIRES_EPOCH@@": str(int(expires_at.timestamp())),
        "@@EXPIRES_TEXT@@": expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    }
    for placeholder, value in values.items():
        if not re.fullmatch(r"[0-9A-Za-z:\- ]+", value):
            raise ValueError(f"unexpected characters in {placeholder}: {value!r}")
        text = text.replace(placeholder, value)
    lines = [_data_line(entry) for entry in entries]
    data = "".join(lines)
    unreachable = "# shellcheck disable=SC2317  # data, never run\n"
    return f"{text}{unreachable}{MANIFEST_START}\n{data}{MANIFEST_END}\n"


def _data_line(entry: ScriptEntry) -> str:
    reason = unsafe_reason(entry.relative_path)
    if reason:
        raise ValueError(f"{entry.relative_path!r} {reason}")
    if not _URL.match(entry.url):
        raise ValueError(f"the URL for {entry.relative_path!r} is not a plain http(s) URL")
    if entry.size < 0:
        raise ValueError(f"negative size for {entry.relative_path!r}")
    return f"{entry.size}\t{entry.md5}\t{entry.relative_path}\t{entry.url}\n"
