"""What the operator's commands (`share`, `job_status`, `abort_job`) share: option names, who
runs them, the job as the API shows it, waiting, and the text they print.

The rules themselves live elsewhere: a launch is validated by `shares.validation` and made by
`jobs.services`, exactly as the API does it; this module only translates between options and
the launch contract, and between a job and lines of text.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.management.base import CommandError, OutputWrapper

from audit.context import act_from_command_line
from jobs.estimate import cost_text, duration_text
from jobs.models import ACTIVE_STATUSES, OUTPUT_LABELS, Job, JobObject, JobStatus
from jobs.serializers import JobDetailSerializer, JobObjectSerializer, progress_body
from shares.contract import LAUNCH_FIELDS, Kind, LaunchField

USER_ENV = "DSM_CLI_USER"

FIELD_OPTIONS: dict[str, str] = {field.name: f"--{field.option}" for field in LAUNCH_FIELDS}
# Field names inside messages ("Cannot be used with libraryIdList") become option names too.
_FIELD_NAME = re.compile(r"\b(" + "|".join(sorted(FIELD_OPTIONS, key=len, reverse=True)) + r")\b")


def dest(option: str) -> str:
    """The argparse destination of an option: `library-id` -> `library_id`."""
    return option.replace("-", "_")


def option_names(field: LaunchField) -> list[str]:
    """`--dryrun` is also spelt `--dry-run`, as in the download script."""
    names = [f"--{field.option}"]
    return [*names, "--dry-run"] if field.name == "dryrun" else names


def option_arguments(field: LaunchField) -> dict[str, Any]:
    """How argparse takes a launch field. Values are checked by the API's serializer, not by
    argparse, so that the command says what the API says."""
    help = f"{field.name}: {field.help}"
    if field.kind is Kind.FLAG:
        return {"action": "store_true", "default": None, "dest": dest(field.option), "help": help}
    if field.is_list:
        metavar = "ID[,ID...]" if field.kind is Kind.IDS else "NAME[,NAME...]"
        return {
            "action": "append",
            "metavar": metavar,
            "help": f"{help} Repeatable, or comma-separated.",
        }
    metavar = (
        "{" + ",".join(value for value, _ in field.choices) + "}"
        if field.choices
        else field.metavar
    )
    return {"metavar": metavar, "required": field.required, "help": help}


def split_values(values: Iterable[str] | None) -> list[str]:
    """`--x A,B --x C` arrives as ["A,B", "C"] and means [A, B, C]; blanks are dropped."""
    return [part.strip() for value in values or () for part in value.split(",") if part.strip()]


def launch_payload(options: dict[str, Any]) -> dict[str, Any]:
    """The launch request the options describe, in the API's field names.

    Lists not given are left out, so the serializer applies its own defaults and says
    "This field is required." for a missing --data-type, as the API would.
    """
    payload: dict[str, Any] = {}
    for field in LAUNCH_FIELDS:
        value = options.get(dest(field.option))
        if field.is_list:
            value = split_values(value) or None
        if value is not None:
            payload[field.name] = value
    return payload


def option_errors(errors: dict[str, Any]) -> str:
    """The serializer's {field: [messages]} as lines that name options, not fields."""
    lines = []
    for field, messages in errors.items():
        for message in _flatten(messages):
            text = _FIELD_NAME.sub(lambda match: FIELD_OPTIONS[match.group(1)], str(message))
            option = FIELD_OPTIONS.get(field)
            lines.append(f"{option}: {text}" if option else text)
    return "\n".join(lines)


def _flatten(messages: Any) -> list[str]:
    if isinstance(messages, dict):
        return [m for value in messages.values() for m in _flatten(value)]
    if isinstance(messages, list | tuple):
        return [m for value in messages for m in _flatten(value)]
    return [str(messages)]


# --- who runs the command -------------------------------------------------------------------


def acting_user(username: str | None, permission: str, doing: str) -> AbstractBaseUser:
    """The active user named by --user (or DSM_CLI_USER) who holds `permission`.

    The same permission the API checks, granted by the operators group
    (sharing_project.roles); `doing` completes "may not ..." in the refusal.
    """
    username = username or os.environ.get(USER_ENV, "")
    if not username:
        raise CommandError(
            f"Say who you are: pass --user USERNAME (or set {USER_ENV}); the user must be in "
            "the operators group."
        )
    user = get_user_model().objects.filter(username=username).first()
    if user is None or not user.is_active:
        state = "does not exist" if user is None else "is not active"
        raise CommandError(
            f"User {username!r} {state}; ask an administrator for an active account in the "
            "operators group."
        )
    if not user.has_perm(permission):
        raise CommandError(
            f"User {username!r} may not {doing}: only operators may; ask for the operators group."
        )
    act_from_command_line(user)  # the audit trail's actor for the rest of the command
    return user


# --- the job as the API shows it ------------------------------------------------------------


def parse_job_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        raise CommandError(
            f"{text!r} is not a job id; a job id is a UUID such as "
            "6769bef8-06d7-4af4-bfaf-922f3d95ec8b."
        ) from None


def get_job(text: str) -> Job:
    """The job with this id, or a CommandError that names the id."""
    job_id = parse_job_id(text)
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        raise CommandError(f"No job with id {text!r}; list jobs at /api/v1/jobs or in the admin.")
    return job


def job_body(job: Job) -> dict[str, Any]:
    """The job exactly as `GET /api/v1/jobs/{id}` shows it, except that `url` is a path:
    a command has no request to tell it the server's host."""
    job = (
        Job.objects.select_related("share_request", "created_by", "source_dry_run")
        .prefetch_related("log_lines")
        .get(pk=job.pk)
    )
    return JobDetailSerializer(job, context={"request": None}).data


def object_items(job: Job) -> list[dict[str, Any]]:
    """Every object of the job, in manifest order, as the items of `GET .../objects`."""
    rows = JobObject.objects.filter(job=job).order_by("position")
    return JobObjectSerializer(rows, many=True).data


def shared_counts(job: Job) -> dict[str, Any]:
    """How many fastq list rows, portal runs and objects the job shares, objects by status."""
    # Kept on the job once it has finished; counted here while it runs.
    totals = job.object_summary() or JobObject.objects.filter(job=job).totals()
    return {
        "fastqRows": totals["fastq_rows"],
        "portalRuns": totals["portal_runs"],
        "objects": totals["count"],
        "byStatus": dict(sorted(totals["by_status"].items())),
    }


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


# --- waiting and the progress bar -----------------------------------------------------------


def human_bytes(size: int) -> str:
    """`7483` -> `7.3 KiB`."""
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def progress_text(status: str, progress: dict[str, Any], width: int = 30) -> str:
    """`[#######-----]  25.0%  7/28 objects  1.8 KiB/7.3 KiB  RUNNING`"""
    filled = round(width * min(progress["percent"], 100.0) / 100)
    bar = "#" * filled + "-" * (width - filled)
    return (
        f"[{bar}] {progress['percent']:5.1f}%  "
        f"{progress['objectsDone']}/{progress['objectsTotal']} objects  "
        f"{human_bytes(progress['bytesDone'])}/{human_bytes(progress['bytesTotal'])}  {status}"
    )


class ProgressBar:
    """Progress on a command's stderr: redrawn in place on a terminal, else a line per change."""

    def __init__(self, out: OutputWrapper):
        self.out = out
        self.tty = out.isatty()
        self.last = ""
        self.width = 0

    def show(self, job: Job) -> None:
        text = progress_text(job.status, progress_body(job.progress))
        if text == self.last:
            return
        if self.tty:
            # Pad over the previous text, which may have been longer.
            self._write("\r" + text.ljust(self.width))
        else:
            self._write(text + "\n")
        self.last, self.width = text, max(self.width, len(text))

    def close(self) -> None:
        if self.tty and self.last:
            self._write("\n")

    def _write(self, text: str) -> None:
        # Not the error style Django gives stderr on a terminal: this is not an error.
        self.out.write(text, style_func=_plain, ending="")
        self.out.flush()


def _plain(text: str) -> str:
    return text


class WaitTimedOut(Exception):
    """--timeout passed before the job ended."""


def wait_for(
    job: Job,
    interval: float,
    on_change: Callable[[Job], None],
    sleep: Callable[[float], None] = time.sleep,
    timeout: float | None = None,
) -> Job:
    """Re-read the job every `interval` seconds until it has ended; `on_change` sees each read.
    Raises WaitTimedOut when `timeout` seconds pass first."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        job.refresh_from_db()
        on_change(job)
        if job.is_finished:
            return job
        if deadline is not None and time.monotonic() >= deadline:
            raise WaitTimedOut
        sleep(interval)


def follow(job: Job, interval: float, stderr: OutputWrapper, timeout: float | None = None) -> Job:
    """`--wait`: poll the job to its end with a progress bar on stderr. Ctrl-C stops the
    waiting, not the job, and says how to pick it up again (exit code 130, as for SIGINT);
    so does `--timeout` (exit code 124, as timeout(1)), e.g. when no worker is running."""
    bar = ProgressBar(stderr)
    try:
        return wait_for(job, interval, bar.show, timeout=timeout)
    except WaitTimedOut:
        raise CommandError(
            f"Job {job.pk} is still {job.status} after {timeout:g} s; it goes on (is a worker "
            f"running? `make worker`). Follow it again with: {follow_hint(job.pk)} --wait",
            returncode=124,
        ) from None
    except KeyboardInterrupt:
        raise CommandError(
            f"Stopped waiting; job {job.pk} goes on. Follow it again with: "
            f"{follow_hint(job.pk)} --wait",
            returncode=130,
        ) from None
    finally:
        bar.close()


def failure_message(job: Job) -> str:
    if job.status == JobStatus.ABORTED:
        return f"Job {job.pk} ended ABORTED; nothing more will be shared."
    return f"Job {job.pk} ended {job.status}: {job.error_type}: {job.error_message}"


def positive_seconds(text: str) -> float:
    """An argparse type: a number of seconds above zero."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {text!r}")
    return seconds


# --- summaries ------------------------------------------------------------------------------

LABEL_WIDTH = len("Download script: ")


def add_interval_option(parser: argparse.ArgumentParser) -> None:
    """--interval and --timeout, for the commands that --wait."""
    parser.add_argument(
        "--interval",
        type=positive_seconds,
        default=2.0,
        metavar="SECONDS",
        help="how often --wait looks at the job (default 2)",
    )
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=None,
        metavar="SECONDS",
        help="stop waiting after this long (exit 124; the job goes on); default: no limit",
    )


def follow_hint(job_id: Any) -> str:
    return f"python manage.py job_status {job_id}"


def summary_lines(body: dict[str, Any], counts: dict[str, Any] | None = None) -> list[str]:
    """A job as a few labelled lines; with `counts` (the status report), also its times,
    progress, what it shares, its outputs, warnings and error."""
    rows = [
        ("Job", str(body["id"])),
        ("Status", body["status"] + (" (abort requested)" if body["abortRequested"] else "")),
        ("Share type", body["shareType"]),
        ("Dry run", "yes" if body["dryrun"] else "no"),
        ("Destination", body["destination"] or "none (a pull hands out download links)"),
        ("Launched", f"by {body['launchedBy']} at {body['createdAt']}"),
    ]
    request = body["request"]
    if request.get("recipientId"):
        rows.append(("Recipient", request["recipientId"]))
    if request.get("purpose"):
        rows.append(("Purpose", request["purpose"]))
    if body["dryRunJobId"]:
        rows.append(("Sends dry run", str(body["dryRunJobId"])))
    if counts is not None:
        rows.append(("Started", body["startedAt"] or "not yet"))
        rows.append(("Finished", body["finishedAt"] or "not yet"))
        rows.append(("Progress", progress_text(body["status"], body["progress"])))
        # A finished job that lists no object has none (an incremental share, nothing new).
        yet = " listed yet" if body["status"] in ACTIVE_STATUSES else ""
        by_status = ", ".join(f"{n} {status}" for status, n in counts["byStatus"].items())
        rows.append(
            (
                "Shares",
                f"{counts['objects']} object(s) ({by_status or 'none' + yet}), "
                f"{counts['fastqRows']} fastq list row(s), {counts['portalRuns']} portal run(s)",
            )
        )
        verified = ", ".join(
            f"{row['objects']} by {row['label']} ({human_bytes(row['bytes'])})"
            for row in body["verification"]
        )
        rows.append(("Verified", verified or "nothing" + yet))
        preview = body["destinationPreview"]
        if preview is not None:
            rows.append(("At destination", destination_preview_text(preview)))
        if body["estimate"] is not None:
            rows.extend(estimate_rows(body["estimate"]))
        if body["leftOut"] is not None:
            rows.append(("Left out", left_out_text(body["leftOut"])))
        for name, link in (body["outputs"] or {}).items():
            label = OUTPUT_LABELS.get(name, name)
            rows.append((label, f"{link['url']}\nexpires {link['expiresAt']} ({link['s3Uri']})"))
        rows.extend(("Warning", warning) for warning in body["warnings"])
        if body["error"]:
            error = body["error"]
            rows.append(("Error", f"{error['type']}: {error['message']}"))
    if body["status"] in ACTIVE_STATUSES:
        rows.append(("Follow it", f"{follow_hint(body['id'])} --wait"))
    if counts is None:
        rows.append(("Status report", follow_hint(body["id"])))
    else:
        rows.append(("Objects", f"{follow_hint(body['id'])} --objects"))
    return _labelled(rows)


def destination_preview_text(preview: dict[str, Any]) -> str:
    if preview["writable"] is None:
        return preview["note"]
    if not preview["writable"]:
        return f"NOT WRITABLE: {preview['note']}"
    return (
        f"writable; {preview['identical']} object(s) already there identical (skipped), "
        f"{preview['different']} with other content (overwritten)"
    )


def estimate_rows(estimate: dict[str, Any]) -> list[tuple[str, str]]:
    """A dry run's estimate (jobs.estimate) as labelled rows: sizes by data type and workflow,
    the archived objects and their restore, egress and transfer time."""

    def counted(count: dict[str, Any]) -> str:
        return f"{count['objects']} object(s), {human_bytes(count['bytes'])}"

    rows = [
        (
            "By data type",
            "; ".join(f"{c['dataType']} {counted(c)}" for c in estimate["byDataType"]),
        ),
    ]
    if estimate["byWorkflow"]:
        workflows = "; ".join(f"{c['workflow']} {counted(c)}" for c in estimate["byWorkflow"])
        rows.append(("By workflow", workflows))
    archived = estimate["archived"]
    if archived["objects"]:
        classes = archived["byStorageClass"]
        tier = archived["restoreTier"]
        if len(classes) == 1:
            text = f"in {classes[0]['storageClass']}: a {tier} restore typically takes"
        else:
            each = "; ".join(
                f"{c['storageClass']} {counted(c)}: {c['typicalDelay']}" for c in classes
            )
            text = f"({each}); a {tier} restore of them all typically takes"
        rows.append(("Archived", f"{counted(archived)} {text} {archived['typicalDelay']}"))
    else:
        rows.append(("Archived", "none"))
    egress, transfer = estimate["egress"], estimate["transfer"]
    rows.append(
        (
            "Egress",
            f"{cost_text(egress)} for {human_bytes(egress['bytes'])} at {egress['pricePerGb']} "
            f"{egress['currency']}/GB ({egress['route']}: {egress['note']})",
        )
    )
    rows.append(
        (
            "Transfer time",
            f"{duration_text(transfer['seconds'])} for {human_bytes(transfer['bytes'])} at "
            f"{transfer['bandwidthMbps']} Mbit/s",
        )
    )
    return rows


def left_out_text(left_out: dict[str, Any]) -> str:
    """What an incremental share left out, and a line per earlier job that delivered it."""
    recipient = left_out["recipientId"]
    if not left_out["objects"]:
        return f"nothing: {recipient} has received none of these objects before"
    lines = [
        f"{left_out['objects']} object(s) ({human_bytes(left_out['bytes'])}) that {recipient} "
        f"received already, from {left_out['jobCount']} earlier job(s):"
    ]
    lines += [
        f"{item['objects']} object(s) ({human_bytes(item['bytes'])}) by job {item['jobId']}"
        for item in left_out["jobs"]
    ]
    if left_out["jobCount"] > len(left_out["jobs"]):
        lines.append(f"and {left_out['jobCount'] - len(left_out['jobs'])} more job(s)")
    return "\n".join(lines)


def _labelled(rows: list[tuple[str, str]]) -> list[str]:
    width = max(LABEL_WIDTH, *(len(label) + 2 for label, _ in rows))
    lines = []
    for label, value in rows:
        first, *rest = value.split("\n")
        lines.append(f"{label + ':':<{width}}{first}")
        lines.extend(" " * width + line for line in rest)
    return lines


def object_lines(items: list[dict[str, Any]]) -> list[str]:
    """A table of the job's objects: status, size, relative path, destination."""
    if not items:
        return ["No objects listed yet."]
    status_width = max(len("STATUS"), *(len(item["status"]) for item in items))
    size_width = max(len("SIZE"), *(len(str(item["size"])) for item in items))
    path_width = max(len("RELATIVE PATH"), *(len(item["relativePath"]) for item in items))
    lines = [
        f"{'STATUS':<{status_width}}  {'SIZE':>{size_width}}  "
        f"{'RELATIVE PATH':<{path_width}}  DESTINATION"
    ]
    for item in items:
        lines.append(
            f"{item['status']:<{status_width}}  {item['size']:>{size_width}}  "
            f"{item['relativePath']:<{path_width}}  {item['destinationUri'] or '-'}".rstrip()
        )
    total = sum(item["size"] for item in items)
    lines.append(f"{len(items)} object(s), {total} bytes ({human_bytes(total)}).")
    return lines
