"""The collaborator's download script: a template in templates/ plus the file list as data, and
the checksum files that go beside it.

The file list is a quoted here-document after the script's final `exit`: read with `read -r`,
never run (nor expanded, were it ever reached); each line is
`size TAB md5-or-- TAB sha256-or-- TAB relative path TAB URL`. Nothing a user or an object key
supplies is ever placed in the script's code: the template's placeholders take only values
generated here (a UUID, numbers, a date), and every path, checksum and URL is checked for the
characters that could break a data line before it is written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings

from shares.resolve import unsafe_reason

TEMPLATE = Path(settings.BASE_DIR) / "templates" / "data-download.sh"
MANIFEST_START = ": <<'__DSM_MANIFEST__'"
MANIFEST_END = "__DSM_MANIFEST__"
CHECKSUM_FILES = {"md5": "checksums.md5", "sha256": "checksums.sha256"}
_URL = re.compile(r"^https?://[\x21-\x7e]+$")  # printable ASCII, no spaces or tabs
_HEX = {"md5": re.compile(r"[0-9a-f]{32}"), "sha256": re.compile(r"[0-9a-f]{64}")}


@dataclass(frozen=True)
class ScriptEntry:
    """One shared file. `md5` (32 lower-case hex digits) and `sha256` (64) are the checksums
    of the object's bytes, each "" when the service does not know it; the script checks the
    SHA-256 when there is one, else the MD5, else only the size."""

    relative_path: str
    url: str
    size: int
    md5: str = ""
    sha256: str = ""


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
    unreachable = "# shellcheck disable=SC2317  # data, never run\n"
    text = text.replace("@@MANIFEST_LINE@@", str(text.count("\n") + unreachable.count("\n") + 1))
    data = "".join(_data_line(entry) for entry in entries)
    return f"{text}{unreachable}{MANIFEST_START}\n{data}{MANIFEST_END}\n"


def render_checksum_files(entries: Iterable[ScriptEntry]) -> dict[str, str]:
    """`checksums.md5` and `checksums.sha256` as `md5sum -c` and `sha256sum -c` read them,
    run from the share's root: a line `<hex>  <relative path>` per file that has that checksum
    (a file with both is in both). Only the files with at least one line are returned."""
    lines: dict[str, list[str]] = {kind: [] for kind in CHECKSUM_FILES}
    for entry in entries:
        _check_path(entry.relative_path)
        for kind in CHECKSUM_FILES:
            if value := _checksum(entry, kind):
                lines[kind].append(_checksum_line(value, entry.relative_path))
    return {CHECKSUM_FILES[kind]: "".join(text) for kind, text in lines.items() if text}


def _checksum_line(value: str, relative_path: str) -> str:
    # A safe path has no newline nor any other control character (unsafe_reason refuses
    # them); a backslash is written as md5sum itself writes it: the line starts with one and
    # the name's backslashes are doubled.
    assert "\n" not in relative_path
    assert "\r" not in relative_path
    if "\\" in relative_path:
        escaped = relative_path.replace("\\", "\\\\")
        return f"\\{value}  {escaped}\n"
    return f"{value}  {relative_path}\n"


def _checksum(entry: ScriptEntry, kind: str) -> str:
    """The entry's checksum of that kind, checked to be lower-case hex of the right length."""
    value = getattr(entry, kind)
    if value and not _HEX[kind].fullmatch(value):
        raise ValueError(
            f"the {kind} of {entry.relative_path!r} is not {_HEX[kind].pattern} "
            f"(lower-case hex): {value!r}"
        )
    return value


def _check_path(relative_path: str) -> None:
    reason = unsafe_reason(relative_path)
    if reason:
        raise ValueError(f"{relative_path!r} {reason}")


def _data_line(entry: ScriptEntry) -> str:
    _check_path(entry.relative_path)
    if not _URL.match(entry.url):
        raise ValueError(f"the URL for {entry.relative_path!r} is not a plain http(s) URL")
    if entry.size < 0:
        raise ValueError(f"negative size for {entry.relative_path!r}")
    md5, sha256 = _checksum(entry, "md5") or "-", _checksum(entry, "sha256") or "-"
    return f"{entry.size}\t{md5}\t{sha256}\t{entry.relative_path}\t{entry.url}\n"
