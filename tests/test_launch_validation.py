"""POST /api/v1/jobs: every rule of the launch contract, good and bad, through the real API.

A refused launch answers 400 naming the field and saying what to do, and queues nothing.
"""

from __future__ import annotations

import pytest
from django_q.models import OrmQ, Task

from catalogue.demo import RUN_A, RUN_B
from catalogue.models import WorkflowRun
from jobs.models import Job

pytestmark = pytest.mark.django_db

PULL_DRY = {"shareType": "pull", "dryrun": True}


def run_ids(workflow: str, *libraries: str) -> list[str]:
    runs = WorkflowRun.objects.filter(workflow_name=workflow, status="SUCCEEDED")
    for library in libraries:
        runs = runs.filter(libraries__library_id=library)
    return sorted(runs.values_list("portal_run_id", flat=True))


def refused(response, field: str, *fragments: str) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert field in body, body
    message = " ".join(body[field]) if isinstance(body[field], list) else str(body[field])
    for fragment in fragments:
        assert fragment in message, message
    assert not Job.objects.exists()
    assert not OrmQ.objects.exists()
    assert not Task.objects.exists()


def accepted(response) -> dict:
    assert response.status_code == 202, response.content
    return response.json()


# --- at most one metadata list -------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("libraryIdList", ["L2400001"]),
        ("subjectIdList", ["SN_PMCC-0001"]),
        ("individualIdList", ["SBJ00001"]),
        ("projectIdList", ["CUP"]),
    ],
)
def test_each_metadata_list_alone_is_accepted(launch, demo, field, value):
    body = accepted(launch(**{field: value}, dataTypeList=["Fastq"], **PULL_DRY))
    assert body["request"][field] == value


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("libraryIdList", "subjectIdList"),
        ("libraryIdList", "projectIdList"),
        ("subjectIdList", "individualIdList"),
        ("individualIdList", "projectIdList"),
    ],
)
def test_two_metadata_lists_are_refused(launch, demo, first, second):
    values = {
        "libraryIdList": ["L2400001"],
        "subjectIdList": ["SN_PMCC-0001"],
        "individualIdList": ["SBJ00001"],
        "projectIdList": ["CUP"],
    }
    response = launch(
        **{first: values[first], second: values[second]}, dataTypeList=["Fastq"], **PULL_DRY
    )
    refused(response, second, f"Cannot be used with {first}", "give only one of")


# --- instrumentRunIdList -------------------------------------------------------------------


def test_instrument_runs_without_fastq_are_refused(launch, demo):
    response = launch(
        instrumentRunIdList=[RUN_A],
        portalRunIdList=run_ids("umccrise")[:1],
        dataTypeList=["SecondaryAnalysis"],
        **PULL_DRY,
    )
    refused(response, "instrumentRunIdList", "Only used for fastq sharing")


def test_unknown_and_malformed_instrument_runs_are_named(launch, demo):
    unknown = "240101_A01052_0001_AHXXXXXXX"
    refused(
        launch(instrumentRunIdList=[unknown], dataTypeList=["Fastq"], **PULL_DRY),
        "instrumentRunIdList",
        f"Unknown instrument run ids (no fastqs in the catalogue): {unknown}",
    )
    refused(
        launch(instrumentRunIdList=["run-1", "run 2"], dataTypeList=["Fastq"], **PULL_DRY),
        "instrumentRunIdList",
        "Malformed: 'run 2', 'run-1'",
        "Enter a valid instrument run id",
    )


@pytest.mark.parametrize(
    "run_id",
    [
        "20240920_LH00161_0111_B22JCMWLT3",  # NovaSeq X
        "240101_M00123_0042_000000000-L4XYZ",  # MiSeq
        "240308_VH00456_210_AAATMY5HV",  # NextSeq 2000
    ],
)
def test_well_formed_run_ids_of_newer_instruments_pass_validation(launch, demo, run_id):
    """NovaSeq X and MiSeq run ids were refused as malformed."""
    refused(
        launch(instrumentRunIdList=[run_id], dataTypeList=["Fastq"], **PULL_DRY),
        "instrumentRunIdList",
        f"Unknown instrument run ids (no fastqs in the catalogue): {run_id}",
    )


def test_library_fastqs_are_intersected_with_instrument_runs(launch, demo, operator_client):
    body = accepted(
        launch(
            libraryIdList=["L2400001", "L2400003"],
            instrumentRunIdList=[RUN_B],
            dataTypeList=["Fastq"],
            **PULL_DRY,
        )
    )
    rows = operator_client.get(f"{body['url']}/fastqs").json()["results"]
    assert [(r["libraryId"], r["instrumentRunId"], r["lane"]) for r in rows] == [
        ("L2400001", RUN_B, 4),
        ("L2400003", RUN_B, 4),
    ]


# --- dataTypeList --------------------------------------------------------------------------


def test_data_types_are_required(launch, demo):
    refused(launch(libraryIdList=["L2400001"], **PULL_DRY), "dataTypeList", "required")
    refused(
        launch(libraryIdList=["L2400001"], dataTypeList=[], **PULL_DRY),
        "dataTypeList",
        "may not be empty",
    )


def test_unknown_data_type_is_refused(launch, demo):
    refused(
        launch(libraryIdList=["L2400001"], dataTypeList=["Fastq", "bam"], **PULL_DRY),
        "dataTypeList",
        "Unknown data type(s) 'bam'",
        "Fastq and/or SecondaryAnalysis",
    )


def test_data_types_are_case_insensitive_and_normalised(launch, demo):
    body = accepted(
        launch(
            libraryIdList=["L2400001"],
            dataTypeList=["secondaryAnalysis", "fastq", "FASTQ"],
            **PULL_DRY,
        )
    )
    assert body["request"]["dataTypeList"] == ["Fastq", "SecondaryAnalysis"]


# --- secondaryAnalysisWorkflowList ---------------------------------------------------------


def test_workflows_need_secondary_analysis(launch, demo):
    refused(
        launch(
            libraryIdList=["L2400001"],
            dataTypeList=["Fastq"],
            secondaryAnalysisWorkflowList=["umccrise"],
            **PULL_DRY,
        ),
        "secondaryAnalysisWorkflowList",
        "add SecondaryAnalysis to dataTypeList",
    )


def test_unknown_workflow_is_refused_with_the_accepted_names(launch, demo):
    refused(
        launch(
            libraryIdList=["L2400001"],
            dataTypeList=["SecondaryAnalysis"],
            secondaryAnalysisWorkflowList=["bwa"],
            **PULL_DRY,
        ),
        "secondaryAnalysisWorkflowList",
        "Unknown workflow(s) 'bwa'",
        "dragen-wgts-dna",
    )


def test_workflow_aliases_and_orcabus_spelling_are_canonicalised(launch, demo, operator_client):
    body = accepted(
        launch(
            libraryIdList=["L2400001"],
            dataTypeList=["SecondaryAnalysis"],
            secondaryAnalysisTypeList=["dragen-wgts-dna", "tumor-normal"],
            **PULL_DRY,
        )
    )
    assert body["request"]["secondaryAnalysisWorkflowList"] == ["tumor-normal"]
    rows = operator_client.get(f"{body['url']}/portal-run-ids").json()["results"]
    assert [r["portalRunId"] for r in rows] == run_ids("tumor-normal", "L2400001")


def test_both_workflow_spellings_at_once_are_refused(launch, demo):
    refused(
        launch(
            libraryIdList=["L2400001"],
            dataTypeList=["SecondaryAnalysis"],
            secondaryAnalysisTypeList=["wts"],
            secondaryAnalysisWorkflowList=["wts"],
            **PULL_DRY,
        ),
        "secondaryAnalysisTypeList",
        "not both",
    )


def test_no_workflow_list_means_every_workflow(launch, demo, operator_client):
    body = accepted(
        launch(libraryIdList=["L2400001"], dataTypeList=["SecondaryAnalysis"], **PULL_DRY)
    )
    rows = operator_client.get(f"{body['url']}/portal-run-ids").json()["results"]
    expected = WorkflowRun.objects.filter(libraries__library_id="L2400001", status="SUCCEEDED")
    assert {r["portalRunId"] for r in rows} == set(expected.values_list("portal_run_id", flat=True))
    assert {r["workflowName"] for r in rows} == {
        "tumor-normal",
        "umccrise",
        "sash",
        "oncoanalyser-wgts-dna-rna",
    }


# --- portalRunIdList and portalRunIdExclusionList ------------------------------------------


def test_portal_runs_take_precedence_over_metadata_and_workflows(launch, demo, operator_client):
    chosen = run_ids("wts")[:1]
    body = accepted(
        launch(
            libraryIdList=["L2400001"],
            dataTypeList=["SecondaryAnalysis"],
            secondaryAnalysisWorkflowList=["umccrise"],
            portalRunIdList=chosen,
            **PULL_DRY,
        )
    )
    rows = operator_client.get(f"{body['url']}/portal-run-ids").json()["results"]
    assert [r["portalRunId"] for r in rows] == chosen


def test_portal_runs_alone_share_exactly_those_runs(launch, demo, operator_client):
    chosen = run_ids("cttsov2")
    body = accepted(launch(portalRunIdList=chosen, dataTypeList=["SecondaryAnalysis"], **PULL_DRY))
    rows = operator_client.get(f"{body['url']}/portal-run-ids").json()["results"]
    assert [r["portalRunId"] for r in rows] == chosen


def test_portal_runs_need_secondary_analysis(launch, demo):
    refused(
        launch(
            libraryIdList=["L2400001"],
            portalRunIdList=run_ids("wts")[:1],
            dataTypeList=["Fastq"],
            **PULL_DRY,
        ),
        "portalRunIdList",
        "add SecondaryAnalysis",
    )


def test_unknown_malformed_and_failed_portal_runs_are_refused(launch, demo):
    unknown = "20991231abcdef00"
    refused(
        launch(portalRunIdList=[unknown], dataTypeList=["SecondaryAnalysis"], **PULL_DRY),
        "portalRunIdList",
        f"Unknown portal run ids: {unknown}",
    )
    refused(
        launch(portalRunIdList=["2024-01-01"], dataTypeList=["SecondaryAnalysis"], **PULL_DRY),
        "portalRunIdList",
        "Malformed: '2024-01-01'",
    )
    failed = WorkflowRun.objects.get(status="FAILED").portal_run_id
    refused(
        launch(portalRunIdList=[failed], dataTypeList=["SecondaryAnalysis"], **PULL_DRY),
        "portalRunIdList",
        f"{failed} (FAILED)",
    )
    # Both problems at once are both named.
    refused(
        launch(portalRunIdList=[failed, unknown], dataTypeList=["SecondaryAnalysis"], **PULL_DRY),
        "portalRunIdList",
        f"Unknown portal run ids: {unknown}",
        f"{failed} (FAILED)",
    )


def test_exclusion_list_removes_a_repeated_run(launch, demo, operator_client):
    first, second = run_ids("tumor-normal", "L2400001")
    body = accepted(
        launch(
            libraryIdList=["L2400001"],
            dataTypeList=["SecondaryAnalysis"],
            secondaryAnalysisWorkflowList=["tumor-normal"],
            portalRunIdExclusionList=[first],
            **PULL_DRY,
        )
    )
    rows = operator_client.get(f"{body['url']}/portal-run-ids").json()["results"]
    assert [r["portalRunId"] for r in rows] == [second]


def test_a_run_both_shared_and_excluded_is_refused(launch, demo):
    run = run_ids("umccrise")[:1]
    refused(
        launch(
            portalRunIdList=run,
            portalRunIdExclusionList=run,
            dataTypeList=["SecondaryAnalysis"],
            **PULL_DRY,
        ),
        "portalRunIdExclusionList",
        "cannot be shared and excluded",
    )


# --- defrostArchivedFastqs, shareType, shareDestination, dryrun -----------------------------


def test_defrost_needs_fastq_and_a_boolean(launch, demo):
    refused(
        launch(
            libraryIdList=["L2400001"],
            dataTypeList=["SecondaryAnalysis"],
            defrostArchivedFastqs=True,
            **PULL_DRY,
        ),
        "defrostArchivedFastqs",
        "Only used for fastq sharing",
    )
    refused(
        launch(
            libraryIdList=["L2400001"],
            dataTypeList=["Fastq"],
            defrostArchivedFastqs="sometimes",
            **PULL_DRY,
        ),
        "defrostArchivedFastqs",
        "valid boolean",
    )


def test_defrost_defaults_to_false(launch, demo):
    body = accepted(launch(libraryIdList=["L2400001"], dataTypeList=["Fastq"], **PULL_DRY))
    assert body["request"]["defrostArchivedFastqs"] is False


def test_share_type_is_required_and_must_be_push_or_pull(launch, demo):
    base = {"libraryIdList": ["L2400001"], "dataTypeList": ["Fastq"], "dryrun": True}
    refused(launch(**base), "shareType", "required")
    refused(launch(**base, shareType="copy"), "shareType", '"copy" is not a valid choice')


def test_push_needs_a_destination(launch, demo):
    refused(
        launch(libraryIdList=["L2400001"], dataTypeList=["Fastq"], shareType="push", dryrun=True),
        "shareDestination",
        "Required for a push",
    )


def test_pull_refuses_a_destination(launch, demo):
    refused(
        launch(
            libraryIdList=["L2400001"],
            dataTypeList=["Fastq"],
            shareDestination="s3://collaborator-bucket/in/",
            **PULL_DRY,
        ),
        "shareDestination",
        "takes no destination",
    )


@pytest.mark.parametrize(
    ("destination", "fragment"),
    [
        ("ftp://server/in/", "use s3://bucket/prefix/ or icav2://project/path/"),
        ("s3://Bad_Bucket/in/", "not a valid S3 destination"),
        ("s3://collaborator-bucket/in/../../other/", "'..' segment"),
        ("icav2://my project/in/", "not a valid ICAv2 destination"),
        ("/local/folder", "use s3://bucket/prefix/"),
    ],
)
def test_bad_destination_is_refused(launch, demo, destination, fragment):
    refused(
        launch(
            libraryIdList=["L2400001"],
            dataTypeList=["Fastq"],
            shareType="push",
            shareDestination=destination,
            dryrun=True,
        ),
        "shareDestination",
        fragment,
    )


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("s3://collaborator-bucket", "s3://collaborator-bucket/"),
        ("s3://collaborator-bucket//in//batch-1", "s3://collaborator-bucket/in/batch-1/"),
        ("icav2://project-a1/shared/data", "icav2://project-a1/shared/data/"),
    ],
)
def test_destination_is_normalised(launch, demo, given, normalised):
    body = accepted(
        launch(
            libraryIdList=["L2400001"],
            dataTypeList=["Fastq"],
            shareType="push",
            shareDestination=given,
            dryrun=True,
        )
    )
    assert body["destination"] == normalised
    assert body["request"]["shareDestination"] == normalised


def test_dryrun_must_be_a_boolean(launch, demo):
    refused(
        launch(
            libraryIdList=["L2400001"],
            dataTypeList=["Fastq"],
            shareType="pull",
            dryrun="yes please",
        ),
        "dryrun",
        "valid boolean",
    )


# --- unknown fields, unknown ids, empty selections ------------------------------------------


def test_unknown_fields_are_refused_by_name(launch, demo):
    refused(
        launch(libraryIds=["L2400001"], dataTypeList=["Fastq"], **PULL_DRY),
        "libraryIds",
        "Unknown field",
        "libraryIdList",
    )


def test_unknown_library_ids_are_all_listed(launch, demo):
    refused(
        launch(
            libraryIdList=["L2400001", "L2499998", "L2499999"], dataTypeList=["Fastq"], **PULL_DRY
        ),
        "libraryIdList",
        "Unknown library ids: L2499998, L2499999",
    )


def test_a_list_where_a_string_was_expected_is_refused(launch, demo):
    refused(
        launch(libraryIdList="L2400001", dataTypeList=["Fastq"], **PULL_DRY),
        "libraryIdList",
        "Expected a list",
    )


def test_ids_are_trimmed_deduplicated_and_sorted(launch, demo):
    body = accepted(
        launch(
            libraryIdList=[" L2400003", "L2400001", "L2400003"], dataTypeList=["Fastq"], **PULL_DRY
        )
    )
    assert body["request"]["libraryIdList"] == ["L2400001", "L2400003"]


def test_fastq_share_without_a_way_to_find_fastqs_is_refused(launch, demo):
    refused(
        launch(
            portalRunIdList=run_ids("wts")[:1],
            dataTypeList=["Fastq", "SecondaryAnalysis"],
            **PULL_DRY,
        ),
        "dataTypeList",
        "Fastq sharing needs one of libraryIdList",
    )


def test_secondary_share_with_no_way_to_find_runs_is_refused(launch, demo):
    refused(
        launch(
            instrumentRunIdList=[RUN_A],
            dataTypeList=["Fastq", "SecondaryAnalysis"],
            secondaryAnalysisWorkflowList=["umccrise"],
            **PULL_DRY,
        ),
        "dataTypeList",
        "SecondaryAnalysis sharing needs portalRunIdList or one of",
    )


def test_selection_that_matches_no_data_is_refused(launch, demo):
    refused(
        launch(
            libraryIdList=["L2400025"],
            dataTypeList=["SecondaryAnalysis"],
            secondaryAnalysisWorkflowList=["umccrise"],
            **PULL_DRY,
        ),
        "dataTypeList",
        "no successful workflow run matches",
    )
    refused(
        launch(
            libraryIdList=["L2400025"],
            instrumentRunIdList=[RUN_A],
            dataTypeList=["Fastq"],
            **PULL_DRY,
        ),
        "dataTypeList",
        "no fastq matches the selection",
    )


def test_a_body_that_is_not_an_object_is_refused(operator_client, demo):
    response = operator_client.post("/api/v1/jobs", ["L2400001"], format="json")
    refused(response, "non_field_errors", "Send a JSON object")
