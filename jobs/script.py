"""The collaborator's download script: a template in templates/ plus the file list as data, and
the checksum files that go beside it.

The file list is a quoted here-document after the script's final `exit`: read with `read -r`,
never run (nor expanded, were it ever reached); each line is
`size TAB md5-or-- TAB sha256-or-- TAB relative path TAB URL` (for a pull with a share link,
the file's position in place of the URL). Nothing a user or an object key
supplies is ever placed in the script's code: the template's placeholders take only values
generated here (a UUID, numbers, a date), and every path, checksum and URL is checked for the
characters that could break a data line before it is written.
"""

from __future__ import annotations

import io
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from django.conf import settings

from shares.resolve import unsafe_reason

TEMPLATE = Path(settings.BASE_DIR) / "templates" / "data-download.sh"
MANIFEST_START = ": <<'__DSM_MANIFEST__'"
MANIFEST_END = "__DSM_MANIFEST__"
# What the stored script of a pull with a share link holds where the link's address goes.
SHARE_URL_PLACEHOLDER = "@@SHARE_URL@@"
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
    """The whole script in memory (a few files; a job writes it with `write_download_script`)."""
    out = io.StringIO()
    size = sum(entry.size for entry in entries)
    write_download_script(out, job_id, [entries], len(entries), size, expires_at)
    return out.getvalue()


def write_download_script(
    out: TextIO,
    job_id: str,
    pages: Iterable[list[ScriptEntry]],
    count: int,
    size: int,
    expires_at: datetime,
    *,
    share_link: bool = False,
) -> None:
    """Write the script to `out` as its file list comes, a page at a time: the template with its
    values (`count` files of `size` bytes in all, which the pages must hold), then the file
    list as data. With `share_link`, each entry's URL is the file's position, fetched through
    the share link, whose address the service puts in when it serves the script (in place of
    SHARE_URL_PLACEHOLDER: the stored copy names no token)."""
    text = TEMPLATE.read_text()
    text = text.replace("@@SHARE_URL@@", SHARE_URL_PLACEHOLDER if share_link else "")
    values = {
        "@@JOB_ID@@": str(job_id),
        "@@FILE_COUNT@@": str(count),
        "@@TOTAL_BYTES@@": str(size),
        "@@EXPIRES_EPOCH@@": str(int(expires_at.timestamp())),
        "@@EXPIRES_TEXT@@": expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    }
    for placeholder, value in values.items():
        if not re.fullmatch(r"[0-9A-Za-z:\- ]+", value):
            raise ValueError(f"unexpected characters in {placeholder}: {value!r}")
        text = text.replace(placeholder, value)
    unreachable = "# shellcheck disable=SC2317  # data, never run\n"
    text = text.replace("@@MANIFEST_LINE@@", str(text.count("\n") + unreachable.count("\n") + 1))
    out.write(f"{text}{unreachable}{MANIFEST_START}\n")
    written = 0
    for page in pages:
        out.write("".join(_data_line(entry, share_link=share_link) for entry in page))
        written += len(page)
    if written != count:
        raise ValueError(f"the script announces {count} file(s) but lists {written}")
    out.write(f"{MANIFEST_END}\n")


def render_checksum_files(entries: Iterable[ScriptEntry]) -> dict[str, str]:
    """`checksums.md5` and `checksums.sha256` in memory (see `ChecksumLists`)."""
    with tempfile.TemporaryDirectory() as folder:
        with ChecksumLists(Path(folder)) as lists:
            lists.add(entries)
        return {name: path.read_text() for name, path in lists.written().items()}


class ChecksumLists:
    """`checksums.md5` and `checksums.sha256` as `md5sum -c` and `sha256sum -c` read them, run
    from the share's root, written into `folder` line by line: a line `<hex>  <relative path>`
    per file that has that checksum (a file with both is in both)."""

    def __init__(self, folder: Path):
        self.paths = {kind: folder / name for kind, name in CHECKSUM_FILES.items()}
        self.lines = dict.fromkeys(CHECKSUM_FILES, 0)
        self.files = 0
        self.with_checksum = 0

    def __enter__(self) -> ChecksumLists:
        self.out = {kind: path.open("w") for kind, path in self.paths.items()}
        return self

    def __exit__(self, *exc) -> None:
        for out in self.out.values():
            out.close()

    def add(self, entries: Iterable[ScriptEntry]) -> None:
        for entry in entries:
            _check_path(entry.relative_path)
            self.files += 1
            found = False
            for kind, out in self.out.items():
                if value := _checksum(entry, kind):
                    out.write(_checksum_line(value, entry.relative_path))
                    self.lines[kind] += 1
                    found = True
            self.with_checksum += found

    def written(self) -> dict[str, Path]:
        """The lists with at least one line, by file name."""
        return {CHECKSUM_FILES[kind]: path for kind, path in self.paths.items() if self.lines[kind]}

    def to_link(self) -> str:
        """The list to hand out: the MD5 list when it covers every file with a checksum, else
        the SHA-256 list; "" when no file has one."""
        if not self.with_checksum:
            return ""
        return CHECKSUM_FILES["md5" if self.lines["md5"] == self.with_checksum else "sha256"]


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


def _data_line(entry: ScriptEntry, *, share_link: bool = False) -> str:
    _check_path(entry.relative_path)
    if share_link and not entry.url.isdigit():
        raise ValueError(f"the position of {entry.relative_path!r} is not a number")
    if not share_link and not _URL.match(entry.url):
        raise ValueError(f"the URL for {entry.relative_path!r} is not a plain http(s) URL")
    if entry.size < 0:
        raise ValueError(f"negative size for {entry.relative_path!r}")
    md5, sha256 = _checksum(entry, "md5") or "-", _checksum(entry, "sha256") or "-"
    return f"{entry.size}\t{md5}\t{sha256}\t{entry.relative_path}\t{entry.url}\n"
