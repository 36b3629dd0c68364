"""Instrument run ids: the run-folder names of every current Illumina instrument are accepted,
wherever an id comes in (model, importer, launch API); nothing that could be read as a path or as
shell syntax is."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from catalogue.ids import validate_instrument_run_id
from catalogue.models import Fastq, Library
from jobs.models import JobObject

ETAG = "d41d8cd98f00b204e9800998ecf8427e"
SHAPE = "an Illumina run folder's name: date, instrument, run number and flow cell"

RUN_FOLDERS = [
    pytest.param("240101_M00123_0042_000000000-L4XYZ", id="MiSeq"),
    pytest.param("240305_MN00234_0017_A000H5KLMT", id="MiniSeq"),
    pytest.param("240306_NB501234_0456_AHKGTVBGXY", id="NextSeq 500"),
    pytest.param("240307_NB551234_0078_AH5YJKBGXC", id="NextSeq 550"),
    pytest.param("240308_VH00456_1210_AAATMY5HV", id="NextSeq 2000"),
    pytest.param("240309_VH01234_7_AAC2FJKM5", id="NextSeq 1000, unpadded run number"),
    pytest.param("160203_D00123_0052_AC66RWANXX", id="HiSeq 2500"),
    pytest.param("170210_K00234_0013_BH2372BBXX", id="HiSeq 4000"),
    pytest.param("171121_ST-E00123_0356_AH00C3CCXX", id="HiSeq X"),
    pytest.param("240115_A01052_0185_AHJLMNDSXA", id="NovaSeq 6000, position A"),
    pytest.param("240212_A00130_0301_BHKTVWDSXB", id="NovaSeq 6000, position B"),
    pytest.param("20240920_LH00161_0111_B22JCMWLT3", id="NovaSeq X"),
]
NOVASEQ_X = "20240920_LH00161_0111_B22JCMWLT3"
MISEQ = "240101_M00123_0042_000000000-L4XYZ"


@pytest.mark.parametrize("run_id", RUN_FOLDERS)
def test_run_folder_of_every_current_illumina_instrument_is_accepted(run_id):
    validate_instrument_run_id(run_id)


@pytest.mark.parametrize(
    "run_id",
    [
        "",
        "240101_A01052_0001",
        "240101_A01052_0001_AHJLMNDSXA_extra",
        "2401_A01052_0001_AHJLMNDSXA",
        "241301_A01052_0001_AHJLMNDSXA",
        "19240920_LH00161_0111_B22JCMWLT3",
        "240101_A01052_123456_AHJLMNDSXA",
        "240101_a01052_0001_ahjlmndsxa",
        "240101_A01052_0001_CHJLMNDSXA",
        "240101_M00123_0042_000000000-L4XY",
        "240101_M00123_0042_-00000000-L4XYZ",
        "-240101_A01052_0001_AHJLMNDSXA",
        "../240101_A01052_0001_AHJLMNDSXA",
        "240101_A01052_0001_AHJLMNDSXA/..",
        "240101_A01052_0001/AHJLMNDSXA",
        "240101_A01052_0001_AHJLMNDSXA\n",
        "240101_A01052_0001_AHJLMNDSXA\x00",
        "240101_A01052_0001_AHJLMN SXA",
        "'240101_A01052_0001_AHJLMNDSXA'",
        '"240101_A01052_0001_AHJLMNDSXA"',
        "240101_A01052_0001_$(id)XXXX",
        "240101_A01052_0001_`id`XXXXX",
        "240101_A01052_0001_AHJLMNDSXA;rm",
        "240101_A01052_0001_AHJ*MNDSXA",
        "240101_ST-E00123_0356_AH00C3CC-X",
    ],
)
def test_malformed_or_hostile_run_id_is_refused_naming_the_shape(run_id):
    with pytest.raises(ValidationError) as refused:
        validate_instrument_run_id(run_id)
    message = refused.value.messages[0]
    assert "Enter a valid instrument run id such as 240115_A01052_0185_AHJLMNDSXA" in message
    assert SHAPE in message


def test_the_longest_accepted_run_id_fits_the_columns_that_hold_it():
    longest = "20240920_ST-AB12345678_12345_000000000-ABCDE"
    validate_instrument_run_id(longest)
    for model in (Fastq, JobObject):
        assert len(longest) <= model._meta.get_field("instrument_run_id").max_length


@pytest.mark.django_db
@pytest.mark.parametrize("run_id", [NOVASEQ_X, MISEQ])
def test_fastq_of_a_novaseq_x_or_miseq_run_is_saved_and_imported(tmp_path, run_id):
    """NovaSeq X (8-digit date) and MiSeq (dash in the flow cell) run ids were refused."""
    Library.objects.create(library_id="L2400001")
    rows = tmp_path / "fastqs.csv"
    rows.write_text(
        "libraryId,instrumentRunId,lane,index,compression,r1Uri,r1Size,r1Etag,r1StorageClass,"
        "r2Uri,r2Size,r2Etag,r2StorageClass\n"
        f"L2400001,{run_id},1,ACGT,GZIP,s3://primary/{run_id}/L2400001_R1.fastq.gz,10,{ETAG},"
        "STANDARD,,,,\n"
    )
    out = StringIO()
    call_command("import_catalogue", str(rows), stdout=out)
    assert "1 created" in out.getvalue()
    assert Fastq.objects.get().instrument_run_id == run_id
