"""Identifier formats of the catalogue, as validators shared by models, importers and the API."""

from __future__ import annotations

import re

from django.core.validators import RegexValidator

LIBRARY_ID = re.compile(r"^L\d{7}(?:_(?:topup|rerun)\d*)?\Z")
# An Illumina run folder's name, DATE_INSTRUMENT_RUN_FLOWCELL, as every current instrument
# writes it. The date is YYMMDD, or YYYYMMDD on the NovaSeq X (20240920_LH00161_0111_B22JCMWLT3).
# The instrument serial is one or two letters and digits (M: MiSeq, MN: MiniSeq, NB/NS: NextSeq
# 500/550, VH: NextSeq 1000/2000, D/SN: HiSeq 2500/2000, J/K: HiSeq 3000/4000, A: NovaSeq 6000,
# LH: NovaSeq X), ST-E on the HiSeq X. The run number has four digits, or one to five, unpadded,
# on the NextSeq 1000/2000 (250814_VH00195_210_AAATMY5HV). The flow cell part is the MiSeq's
# 000000000-XXXXX, or a 9-character flow cell id (MiniSeq 000H..., NextSeq 2000 AAA...), after
# the position (A or B) on the instruments that have one. \Z, not $: no trailing line break.
INSTRUMENT_RUN_ID = re.compile(
    r"^(?:20)?\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
    r"_(?:ST-)?[A-Z]{1,2}\d{3,8}"
    r"_\d{1,5}"
    r"_(?:000000000-[A-Z0-9]{5}|[AB]?[A-Z0-9]{9})\Z"
)
PORTAL_RUN_ID = re.compile(r"^\d{8}[0-9a-f]{8}\Z")
INDIVIDUAL_ID = re.compile(r"^SBJ\d{5}\Z")
SAMPLE_ID = re.compile(r"^(?:PRJ|MDX|CCR|PTC)\d{6}(?:_(?:topup|rerun)\d*)?\Z")
# Project, subject and external sample ids come from outside the centre: allow the characters
# seen in practice, and nothing that could be read as a path or shell syntax. Every pattern
# ends with \Z, not $, which also matches before a trailing line break ("L2400001\n").
EXTERNAL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")


def _validator(pattern: re.Pattern[str], what: str, example: str) -> RegexValidator:
    return RegexValidator(
        pattern,
        message=f"Enter a valid {what} such as {example}.",
        code=f"invalid_{what.replace(' ', '_')}",
    )


validate_library_id = _validator(LIBRARY_ID, "library id", "L2400001 (or L2400001_topup)")
validate_instrument_run_id = _validator(
    INSTRUMENT_RUN_ID,
    "instrument run id",
    "240115_A01052_0185_AHJLMNDSXA or 20240920_LH00161_0111_B22JCMWLT3 (an Illumina run "
    "folder's name: date, instrument, run number and flow cell, joined by _)",
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
