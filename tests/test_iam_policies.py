"""The IAM policies in deploy/iam/ grant exactly the S3 actions the service's code calls.

How the calls are found: the service talks to S3 only through sharing_project/s3/ (the one S3
module, STYLE.md), so its source is read (as Python's AST, never run) for calls of S3 client
methods (botocore's own list of S3 operations, plus boto3's managed transfers), paginators and
presigned methods. Modules elsewhere that hold an S3 client (they import
sharing_project.s3.client) are read the same way, and a test checks that no other module
imports boto3, botocore or s3transfer, so nothing is missed. Each operation maps to the IAM
actions AWS requires for it (OPERATION_ACTIONS); an operation missing from that table fails the
test until someone says what it needs.

bench/ and tests/ are not read: they call boto3 directly to set up their own buckets and are
never deployed. CreateBucket is the one operation the code calls that no production policy
grants: `ensure_bucket` calls it, and only the embedded run's and the seed commands' code paths
call `ensure_bucket` (EMBEDDED_ONLY), which a test checks too.
"""

from __future__ import annotations

import ast
import functools
import json
from collections.abc import Iterator
from pathlib import Path

import botocore.session
import pytest
from botocore import xform_name

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "deploy" / "iam"
S3_PACKAGE = ROOT / "sharing_project" / "s3"
NOT_DEPLOYED = {"tests", "bench", "data", "test-artifacts", "node_modules"}
SIGNING_POLICY = "dsm-presign.json"

# What each S3 operation needs (AWS's "Actions, resources, and condition keys for Amazon S3").
OPERATION_ACTIONS: dict[str, set[str]] = {
    "HeadBucket": {"s3:ListBucket"},
    "ListObjectsV2": {"s3:ListBucket"},
    "HeadObject": {"s3:GetObject"},
    "GetObject": {"s3:GetObject"},
    "GetObjectAttributes": {"s3:GetObject", "s3:GetObjectAttributes"},
    "PutObject": {"s3:PutObject"},
    # s3:GetObject on the source, s3:PutObject on the destination.
    "CopyObject": {"s3:GetObject", "s3:PutObject"},
    "CreateMultipartUpload": {"s3:PutObject"},
    "UploadPart": {"s3:PutObject"},
    "UploadPartCopy": {"s3:GetObject", "s3:PutObject"},
    "CompleteMultipartUpload": {"s3:PutObject"},
    "AbortMultipartUpload": {"s3:AbortMultipartUpload"},
    "DeleteObject": {"s3:DeleteObject"},
    "RestoreObject": {"s3:RestoreObject"},
    "CreateBucket": {"s3:CreateBucket"},
}
# boto3's managed transfers, and the operations they make (a failed multipart upload is
# aborted).
TRANSFER_OPERATIONS: dict[str, set[str]] = {
    "upload_file": {"PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"}
    | {"AbortMultipartUpload"},
    "upload_fileobj": {"PutObject", "CreateMultipartUpload", "UploadPart"}
    | {"CompleteMultipartUpload", "AbortMultipartUpload"},
    "download_file": {"HeadObject", "GetObject"},
    "download_fileobj": {"HeadObject", "GetObject"},
}
# A request parameter that needs an action of its own: an ACL given with a write
# (PUSH_BUCKET_OWNER_FULL_CONTROL's bucket-owner-full-control).
PARAMETER_ACTIONS = {"ACL": {"s3:PutObjectAcl"}}
# Operations only the embedded run (`make run`, moto) and the seed commands make, and the
# modules allowed to reach them through `ensure_bucket`.
EMBEDDED_ONLY = {"CreateBucket"}
EMBEDDED_CALLERS = {
    "catalogue/management/commands/prepare_embedded.py",
    "catalogue/demo.py",
    "catalogue/scale.py",
}
S3_LIBRARIES = ("boto3", "botocore", "s3transfer")


def s3_operations_by_method() -> dict[str, str]:
    """boto3's method name of every S3 operation (put_object -> PutObject)."""
    model = botocore.session.get_session().get_service_model("s3")
    return {xform_name(name): name for name in model.operation_names}


def deployed_modules() -> Iterator[Path]:
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if parts[0] in NOT_DEPLOYED or parts[0].startswith(".") or "migrations" in parts:
            continue
        yield path


@functools.cache
def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def imported_modules(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def holds_a_client(path: Path) -> bool:
    """In the S3 module, or given clients by it (sharing_project.s3.client)."""
    return S3_PACKAGE in path.parents or "sharing_project.s3.client" in imported_modules(
        parsed(path)
    )


def first_string_argument(call: ast.Call) -> str | None:
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    return None


def operations_called(tree: ast.Module, methods: dict[str, str]) -> set[str]:
    """The S3 operations a module's code calls: client methods, the operation a paginator
    pages through, the method a presigned URL allows, and boto3's managed transfers."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        name = node.func.attr
        if name in ("get_paginator", "generate_presigned_url"):
            method = first_string_argument(node)
            assert method in methods, f"line {node.lineno}: {name} of {method!r}"
            found.add(methods[method])
        elif name in methods:
            found.add(methods[name])
        elif name in TRANSFER_OPERATIONS:
            found |= TRANSFER_OPERATIONS[name]
    return found


def parameters_used(tree: ast.Module) -> set[str]:
    """Request parameters with an action of their own, written anywhere in the module."""
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value in PARAMETER_ACTIONS
    } | {
        node.arg
        for node in ast.walk(tree)
        if isinstance(node, ast.keyword) and node.arg in PARAMETER_ACTIONS
    }


def code_operations() -> set[str]:
    methods = s3_operations_by_method()
    found: set[str] = set()
    for path in deployed_modules():
        if holds_a_client(path):
            found |= operations_called(parsed(path), methods)
    return found


def actions_for(operations: set[str]) -> set[str]:
    unknown = operations - OPERATION_ACTIONS.keys()
    assert not unknown, f"say which IAM actions these need in OPERATION_ACTIONS: {unknown}"
    return set().union(*(OPERATION_ACTIONS[operation] for operation in operations))


def required_actions() -> set[str]:
    """Every action production needs: the operations the code calls, less the embedded-only
    ones, and the request parameters it writes."""
    parameters: set[str] = set()
    for path in deployed_modules():
        if holds_a_client(path):
            parameters |= parameters_used(parsed(path))
    production = actions_for(code_operations() - EMBEDDED_ONLY)
    return production.union(*(PARAMETER_ACTIONS[name] for name in parameters))


def policy_actions(path: Path) -> set[str]:
    policy = json.loads(path.read_text())
    assert policy["Version"] == "2012-10-17", path.name
    actions: set[str] = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow", (path.name, statement)
        granted = statement["Action"]
        actions |= {granted} if isinstance(granted, str) else set(granted)
    return actions


def all_policies() -> list[Path]:
    policies = sorted(POLICIES.glob("*.json"))
    assert policies, f"no policies in {POLICIES}"
    return policies


def test_the_policies_grant_exactly_the_actions_the_code_calls():
    granted = set().union(*(policy_actions(path) for path in all_policies()))
    required = required_actions()
    assert required - granted == set(), "the code calls S3 for these; no policy grants them"
    assert granted - required == set(), "granted, but the code never needs them"


def test_the_scan_finds_the_operations_the_service_is_known_to_make():
    """A scan that found nothing would make the comparison above empty on both sides."""
    assert {
        "CopyObject",
        "UploadPartCopy",
        "ListObjectsV2",
        "RestoreObject",
        "GetObject",
        "HeadBucket",
        "AbortMultipartUpload",
    } <= code_operations()


def test_no_policy_grants_a_wildcard():
    for path in all_policies():
        for action in policy_actions(path):
            assert "*" not in action, f"{path.name} grants {action}"


def test_the_signing_identity_may_only_read_objects():
    """Links signed by PRESIGN_AWS_PROFILE allow what its identity allows: GET, nothing else."""
    assert policy_actions(POLICIES / SIGNING_POLICY) == {"s3:GetObject"}


def test_only_the_s3_module_imports_boto3():
    """The scan reads sharing_project/s3/ and the modules given its clients: a module that built
    its own client would go unread."""
    for path in deployed_modules():
        if S3_PACKAGE in path.parents:
            continue
        direct = {
            name for name in imported_modules(parsed(path)) if name.split(".")[0] in S3_LIBRARIES
        }
        assert not direct, (
            f"{path.relative_to(ROOT)} imports {direct}: go through sharing_project.s3"
        )


def test_embedded_only_operations_are_reached_from_embedded_code_paths_only():
    """CreateBucket is called by `ensure_bucket`, and `ensure_bucket` only by the embedded run's
    and the seed commands' modules: no production policy needs s3:CreateBucket."""
    methods = s3_operations_by_method()
    defining: set[str] = set()
    for path in S3_PACKAGE.glob("*.py"):
        for node in ast.walk(parsed(path)):
            if (
                isinstance(node, ast.FunctionDef)
                and operations_called(ast.Module(body=[node], type_ignores=[]), methods)
                & EMBEDDED_ONLY
            ):
                defining.add(node.name)
    assert defining == {"ensure_bucket"}
    callers = set()
    for path in deployed_modules():
        if S3_PACKAGE in path.parents:
            continue
        for node in ast.walk(parsed(path)):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name in defining:
                    callers.add(str(path.relative_to(ROOT)))
    assert callers, "the embedded run prepares its buckets with ensure_bucket"
    assert callers <= EMBEDDED_CALLERS, callers - EMBEDDED_CALLERS


@pytest.mark.parametrize("policy", [p.name for p in sorted(POLICIES.glob("*.json"))])
def test_each_policy_names_its_buckets_by_placeholder(policy):
    """deploy.md tells the operator to replace the upper-case placeholders with bucket names."""
    text = (POLICIES / policy).read_text()
    assert "arn:aws:s3:::" in text
    assert any(word in text for word in ("SOURCE-BUCKET", "DESTINATION-BUCKET", "SHARING-BUCKET"))
