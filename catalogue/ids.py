"""Identifier formats of the catalogue, as validators shared by models, importers and the API."""

from __future__ import annotations

import re

from django.core.validators import RegexValidator

LIBRARY_ID = re.compile(r"^L\d{7}(?:_(?:topup|rerun)\d*)?$")
INSTRUMENT_RUN_ID = re.compile(r"^\d{6}_[A-Z0-9]+_\d{4}_[A-Z0-9]{9,10}$")
PORTAL_RUN_ID = re.compile(r"^\d{8}[0-9a-f]{8}$")
INDIVIDUAL_ID = re.compile(r"^SBJ\d{5}$")
SAMPLE_ID = re.compile(r"^(?:PRJ|MDX|CCR|PTC)\d{6}(?:_(?:topup|rerun)\d*)?$")
# Project, subject and external sample ids come from outside the centre: allow the characters
# seen in practice, and nothing that could be read as a path or shell syntax.
EXTERNAL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _validator(pattern: re.Pattern[str], what: str, example: str) -> RegexValidator:
    return RegexValidator(
        pattern,
        message=f"Enter a valid {what} such as {example}.",
        code=f"invalid_{what.replace(' ', '_')}",
    )


validate_library_id = _validator(LIBRARY_ID, "library id", "L2400001 (or L2400001_topup)")
validate_instrument_run_id = _validator(
    INSTRUMENT_RUN_ID, "instrument run id", "240101_A01052_0001_AHXXXXXXX"
)
validate_portal_run_id = _validator(
    PORTAL_RUN_ID, "portal run id", "20240101abcdef01 (a date then 8 lower-case hex characters)"
)
validate_individual_id = _validator(INDIVIDUAL_ID, "individual id", "SBJ00001")
validate_sample_id = _validator(SAMPLE_ID, "sample id", "PRJ240001")
validate_project_id = _validator(EXTERNAL_ID, "project id", "CUP (letters, digits, _ . -)")
validate_subject_id = _validator(EXTERNAL_ID, "subject id", "SN_PMCC-0001 (letters, digits, _ . -)")
validate_external_sample_id = _validator(
    EXTERNAL_ID, "external sample id", "EXT-001 (letters, digits, _ . -)"
)
