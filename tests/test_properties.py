"""Properties of every id and URI validator and of the key-to-relative-path mapping, checked
on inputs hypothesis generates (derandomized: CI tries the same inputs every run).

What must hold whatever a catalogue file, an upstream service or an API client sends:
- an id a validator accepts is exactly one its pattern describes, and is a plain path
  segment: no separator, no whitespace or control character, nothing a shell would read;
- a destination or S3 URI, once accepted, is normalised, parses back to itself and names no
  `.`/`..` folder; anything else is a ValidationError, never another exception;
- a relative path that passes unsafe_reason() stays inside any folder it is joined to, and the
  mapping from keys to relative paths is one-to-one below a run's prefix.
"""

from __future__ import annotations

import posixpath
import re
import string

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from catalogue import ids
from jobs.script import ScriptEntry, _data_line
from shares.destinations import parse_destination
from shares.resolve import fastq_relative_path, secondary_relative_path, unsafe_reason
from sharing_project.s3.uris import parse_s3_uri

PROPERTY = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
SHELL_SPECIAL = set(" \t\n\r\"'`$\\|&;<>()*?[]{}~!#=%") | {chr(c) for c in range(32)} | {"\x7f"}

VALIDATORS = [
    (ids.validate_library_id, ids.LIBRARY_ID),
    (ids.validate_instrument_run_id, ids.INSTRUMENT_RUN_ID),
    (ids.validate_portal_run_id, ids.PORTAL_RUN_ID),
    (ids.validate_individual_id, ids.INDIVIDUAL_ID),
    (ids.validate_sample_id, ids.SAMPLE_ID),
    (ids.validate_project_id, ids.EXTERNAL_ID),
    (ids.validate_subject_id, ids.EXTERNAL_ID),
    (ids.validate_external_sample_id, ids.EXTERNAL_ID),
]
NAMES = [validator.code for validator, _ in VALIDATORS]


def _accepts(validator, value: str) -> bool:
    try:
        validator(value)
    except ValidationError:
        return False
    return True


def _full(pattern: re.Pattern[str]) -> st.SearchStrategy[str]:
    return st.from_regex(pattern, fullmatch=True)


@pytest.mark.parametrize(("validator", "pattern"), VALIDATORS, ids=NAMES)
def test_every_id_its_pattern_describes_is_accepted_and_is_a_plain_segment(validator, pattern):
    @PROPERTY
    @given(_full(pattern))
    def check(value: str) -> None:
        assert _accepts(validator, value)
        assert "/" not in value
        assert value not in (".", "..")
        assert not SHELL_SPECIAL & set(value), value

    check()


@pytest.mark.parametrize(("validator", "pattern"), VALIDATORS, ids=NAMES)
def test_an_id_is_accepted_only_if_its_pattern_matches_it_whole(validator, pattern):
    """Regression: `$` let 'L2400001\\n' through (a pattern's end matched before a trailing
    line break); an accepted id never ends in one."""

    @PROPERTY
    @given(
        st.one_of(
            _full(pattern).map(lambda value: value + "\n"),
            _full(pattern).flatmap(lambda v: st.sampled_from([f" {v}", f"{v} ", f"{v}/x"])),
            st.text(alphabet=string.ascii_letters + string.digits + "_.-/\n ", max_size=40),
        )
    )
    def check(value: str) -> None:
        assert _accepts(validator, value) == (pattern.fullmatch(value) is not None)
        if _accepts(validator, value):
            assert not SHELL_SPECIAL & set(value)

    check()


_BUCKET = st.from_regex(r"[a-z0-9][a-z0-9.-]{1,20}[a-z0-9]", fullmatch=True)
_SEGMENT = st.text(alphabet=string.ascii_letters + string.digits + "._-", min_size=1, max_size=8)
_FOLDER = st.lists(st.one_of(_SEGMENT, st.sampled_from(["", ".", ".."])), max_size=4).map("/".join)
_ANY_TEXT = st.text(max_size=60)


@PROPERTY
@given(
    st.one_of(
        st.builds(lambda b, f: f"s3://{b}/{f}", _BUCKET, _FOLDER),
        st.builds(lambda p, f: f"icav2://{p}/{f}", _SEGMENT, _FOLDER),
        st.builds(lambda s, t: f"{s}{t}", st.sampled_from(["s3://", "icav2://", ""]), _ANY_TEXT),
    )
)
@example("s3://bucket/a/../b/")
@example("icav2://project/")
@example("s3://bucket")
def test_a_destination_is_normalised_or_refused(uri):
    try:
        destination = parse_destination(uri)
    except ValidationError:
        return
    normalised = str(destination)
    assert parse_destination(normalised) == destination  # normalising twice changes nothing
    assert normalised.endswith("/")
    segments = destination.path.split("/")[:-1]
    assert all(segment not in ("", ".", "..") for segment in segments)
    assert not re.search(r"[\x00-\x1f\x7f]", normalised)


@PROPERTY
@given(st.builds(lambda b, k: f"s3://{b}/{k}", _BUCKET, st.text(max_size=40)))
def test_an_object_uri_parses_back_to_itself_or_is_refused(uri):
    try:
        parsed = parse_s3_uri(uri)
    except ValidationError:
        return
    assert str(parsed) == uri
    assert parsed.key
    assert not parsed.key.endswith("/")


_KEY_TEXT = st.text(
    alphabet=st.one_of(st.sampled_from("/.\\$`'\"\n;&| "), st.characters()), max_size=30
)


@PROPERTY
@given(prefix=_FOLDER.map(lambda f: f.strip("/") + "/" if f.strip("/") else ""), below=_KEY_TEXT)
@example(prefix="runs/x/", below="../../../etc/passwd")
@example(prefix="runs/x/", below="/abs")
@example(prefix="", below="a/./b")
def test_a_safe_relative_path_never_leaves_the_folder_it_is_joined_to(prefix, below):
    path = secondary_relative_path("umccrise", "20240101abcdef01", prefix, prefix + below)
    assert path == secondary_relative_path("umccrise", "20240101abcdef01", prefix, prefix + below)
    if unsafe_reason(path) is not None:
        return  # refused before anything is shared (UnsafeObjectKey)
    root = "/download/here"
    joined = posixpath.normpath(posixpath.join(root, path))
    assert joined.startswith(root + "/secondary-analysis/umccrise/20240101abcdef01/")
    assert not path.startswith("/")
    assert ".." not in path.split("/")
    assert not re.search(r"[\x00-\x1f\x7f]", path)
    # The script reads its paths from tab-separated data lines, never from shell code: the
    # line holds exactly its five fields, the path among them unchanged.
    line = _data_line(ScriptEntry(path, "https://bucket.s3.amazonaws.com/k?X-Amz-Signature=0", 1))
    assert line.endswith("\n")
    assert line.count("\n") == 1
    fields = line.rstrip("\n").split("\t")
    assert len(fields) == 5
    assert fields[3] == path


@PROPERTY
@given(prefix=st.sampled_from(["", "out/", "a/b/"]), keys=st.lists(_KEY_TEXT, max_size=6))
def test_distinct_keys_below_a_prefix_map_to_distinct_paths(prefix, keys):
    paths = {secondary_relative_path("wts", "20240101abcdef01", prefix, prefix + k) for k in keys}
    assert len(paths) == len(set(keys))


@PROPERTY
@given(
    run=_full(ids.INSTRUMENT_RUN_ID),
    lane=st.integers(min_value=1, max_value=8),
    library=_full(ids.LIBRARY_ID),
    name=_KEY_TEXT,
)
def test_a_fastq_lands_in_its_own_folder_under_its_file_name(run, lane, library, name):
    path = fastq_relative_path(run, lane, library, f"s3://bucket/any/folder/{name}")
    folder = f"fastq/{run}/Lane_{lane}/{library}/"
    assert path.startswith(folder)
    assert "/" not in path[len(folder) :]  # the file name only, never a folder of the key
    if unsafe_reason(path) is None:
        joined = posixpath.normpath(posixpath.join("/d", path))
        assert joined == "/d/" + path


def test_a_key_outside_the_prefix_is_refused():
    with pytest.raises(ValueError, match="not below"):
        secondary_relative_path("wts", "20240101abcdef01", "out/", "other/file")
