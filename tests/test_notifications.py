"""Notifications of a job's end: emails through a real SMTP server on loopback, webhooks to a
real HTTP receiver that checks their signatures, retries through django-q2's own scheduler.
One message per job, never one per file; a failing mail server or hook never touches the job."""

from __future__ import annotations

import json
import logging
import time

import pytest
import requests
from django.test import Client
from django_q.models import Schedule
from django_q.scheduler import scheduler

from jobs.models import Job, JobStatus
from notifications import services, webhooks
from notifications.events import event_id
from notifications.models import EmailNotification, Webhook, WebhookDelivery
from shares.models import ShareRequest
from tests.support.cluster import start_cluster, stop
from tests.support.smtp import SmtpServer, free_port
from tests.support.webhook_receiver import WebhookReceiver, verify

pytestmark = pytest.mark.django_db

CONSOLE = "https://dsm.example.org"
LAUNCHER = "olivia@example.org"
CONTACTS = ["ccg-data@example.org", "ccg-lead@example.org"]
DESTINATION = "s3://collaborator-bucket/cup/"
PULL = {"projectIdList": ["CUP"], "dataTypeList": ["Fastq", "SecondaryAnalysis"]}


@pytest.fixture
def mail_settings(settings):
    """Django's SMTP backend, as production uses it; the server is set by the fixtures below."""
    settings.EMAIL_CONFIGURED = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    settings.DEFAULT_FROM_EMAIL = "Data Sharing Manager <dsm@example.org>"
    settings.CONSOLE_URL = CONSOLE
    settings.WEBHOOK_BACKOFF_SECONDS = 0.4
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    return settings


@pytest.fixture
def smtp(mail_settings):
    """A real SMTP server on loopback that accepts every message."""
    server = SmtpServer().start()
    mail_settings.EMAIL_PORT = server.port
    yield server
    server.stop()


@pytest.fixture
def launcher(operator):
    operator.email = LAUNCHER
    operator.save()
    return operator


@pytest.fixture
def told_recipient(recipient):
    recipient.contact_emails = CONTACTS
    recipient.notify_contacts = True
    recipient.save()
    return recipient


@pytest.fixture
def receiver():
    server = WebhookReceiver().start()
    yield server
    server.stop()


def hook_for(receiver: WebhookReceiver, path: str = "/hooks/dsm", **fields) -> Webhook:
    hook = Webhook.objects.create(url=receiver.url(path), description="LIMS", **fields)
    receiver.secret = hook.secret
    return hook


def ended_job(user, status: str = JobStatus.SUCCEEDED, *, dryrun: bool = False, **fields) -> Job:
    """A job run up to RUNNING, then ended through its own transition (which queues its
    notifications); the caller captures the commit."""
    config = {"libraryIdList": ["L2400001"], "dataTypeList": ["Fastq"], "shareType": "pull"}
    share, _ = ShareRequest.objects.get_or_create(fingerprint="notify-test", config=config)
    job = Job.objects.create(
        share_request=share, share_type="pull", dryrun=dryrun, created_by=user, **fields
    )
    assert job.mark_running()
    if status == JobStatus.SUCCEEDED:
        assert job.mark_succeeded()
    elif status == JobStatus.FAILED:
        assert job.mark_failed("ResolutionError", "Library L2400001 has no fastq list rows.")
    else:
        assert job.mark_aborted()
    return job


def run_due_retries(wait_until_due: float = 5.0) -> None:
    """What a cluster's scheduler does every 30 s: turn the schedules that are due into tasks
    (run in place in sync mode). Waits for the next retry to be due first."""
    pending = Schedule.objects.filter(func=webhooks.RETRY_TASK).order_by("next_run").first()
    assert pending is not None, "no retry scheduled"
    deadline = time.monotonic() + wait_until_due
    while pending.next_run >= _now() and time.monotonic() < deadline:
        time.sleep(0.05)
    scheduler()


def _now():
    from django.utils import timezone

    return timezone.now()


# --- emails -----------------------------------------------------------------------------------


@pytest.mark.e2e  # a pull of the demo project, a second
def test_a_pull_tells_its_launcher_and_the_recipients_contacts_once_each(
    launch, demo, smtp, launcher, told_recipient, operator_client, receiver, caplog
):
    caplog.set_level(logging.DEBUG)
    hook = hook_for(receiver)
    body = launch(
        **PULL, shareType="pull", recipientId="garvan-ccg", purpose="DAA-0042: CUP study"
    ).json()
    job = Job.objects.get(pk=body["id"])
    assert job.status == "SUCCEEDED"
    assert job.objects_total > 90  # many files ...
    assert len(smtp.received) == 2  # ... two messages

    to_launcher, to_contacts = sorted(smtp.received, key=lambda m: m.rcpt_tos != [LAUNCHER])
    assert to_launcher.rcpt_tos == [LAUNCHER]
    assert to_launcher.subject.startswith("[DSM] Pull SUCCEEDED for garvan-ccg:")
    assert f"{job.objects_total} of {job.objects_total} object(s)" in to_launcher.subject
    page = f"{CONSOLE}/admin/jobs/job/{job.pk}/change/"
    assert page in to_launcher.body
    assert f"Objects:      {job.objects_total} of {job.objects_total}" in to_launcher.body
    assert f"({job.bytes_total} of {job.bytes_total})" in to_launcher.body
    assert "Garvan clinical genomics (garvan-ccg)" in to_launcher.body
    assert "DAA-0042: CUP study" in to_launcher.body
    assert "X-Amz-Signature" not in to_launcher.body  # the links go to the contacts only

    assert to_contacts.rcpt_tos == CONTACTS
    assert to_contacts.message["To"] == ", ".join(CONTACTS)
    assert to_contacts.subject.startswith("[DSM] Data ready for Garvan clinical genomics:")
    assert job.lims_csv_url in to_contacts.body
    assert job.download_script_url in to_contacts.body
    assert f"curl -fsS -o data-download.sh '{job.download_script_url}'" in to_contacts.body
    assert "bash data-download.sh --data-download-path /path/to/data" in to_contacts.body
    assert f"{job.links_expire_at:%Y-%m-%d %H:%M}" in to_contacts.body
    # The link in the email is the script itself, for whoever holds the email.
    script = requests.get(job.download_script_url, timeout=10)
    assert script.status_code == 200
    assert script.text.startswith("#!/")

    rows = EmailNotification.objects.filter(job=job)
    assert {(r.kind, r.status) for r in rows} == {("launcher", "SENT"), ("contacts", "SENT")}
    # The webhook's event has the counts, never the links.
    [got] = receiver.got
    event = json.loads(got.body)
    assert event["job"]["objects"] == {
        "done": job.objects_total,
        "total": job.objects_total,
        "failed": 0,
    }
    assert event["job"]["recipientId"] == "garvan-ccg"
    assert "X-Amz" not in got.body.decode()
    assert WebhookDelivery.objects.get(hook=hook, job=job).status == "DELIVERED"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "X-Amz-Signature" not in logged
    assert hook.secret not in logged


def test_a_push_tells_where_the_data_is_and_its_dry_run_tells_no_one(
    launch, demo, smtp, launcher, told_recipient, operator_client
):
    from sharing_project.s3.objects import ensure_bucket

    ensure_bucket("collaborator-bucket")
    share = {**PULL, "shareType": "push", "shareDestination": DESTINATION}
    share |= {"recipientId": "garvan-ccg", "purpose": "DAA-0042"}
    dry = launch(**share, dryrun=True).json()
    assert operator_client.get(dry["url"]).json()["status"] == "SUCCEEDED"
    assert smtp.received == []  # a successful dry run: the launcher is looking at it
    assert not EmailNotification.objects.filter(job_id=dry["id"]).exists()

    push = Job.objects.get(pk=launch(**share).json()["id"])
    assert push.status == "SUCCEEDED"
    assert len(smtp.received) == 2
    to_contacts = next(m for m in smtp.received if m.rcpt_tos == CONTACTS)
    assert to_contacts.subject == (
        f"[DSM] Data delivered to Garvan clinical genomics: {push.objects_done} file(s), "
        f"{_human(push.bytes_done)}"
    )
    assert f"    {DESTINATION}\n" in to_contacts.body
    assert f"{push.objects_done} file(s), {_human(push.bytes_done)} in all" in to_contacts.body
    assert "lims.csv           the LIMS metadata" in to_contacts.body
    to_launcher = next(m for m in smtp.received if m.rcpt_tos == [LAUNCHER])
    assert f"Destination:  {DESTINATION}" in to_launcher.body


def _human(size: int) -> str:
    from jobs.cli import human_bytes

    return human_bytes(size)


def test_a_dry_run_that_failed_is_told_to_its_launcher(
    smtp, launcher, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job = ended_job(launcher, JobStatus.FAILED, dryrun=True)
    [message] = smtp.received
    assert message.subject.startswith("[DSM] Pull dry run FAILED:")
    assert "Error:        ResolutionError\nLibrary L2400001 has no fastq list rows." in message.body
    assert f"{CONSOLE}/admin/jobs/job/{job.pk}/change/" in message.body


def test_a_failed_or_aborted_share_tells_the_launcher_but_not_the_contacts(
    smtp, launcher, told_recipient, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ended_job(launcher, JobStatus.FAILED, recipient=told_recipient)
        ended_job(launcher, JobStatus.ABORTED, recipient=told_recipient)
    assert [m.rcpt_tos for m in smtp.received] == [[LAUNCHER], [LAUNCHER]]
    failed, aborted = (m.subject for m in smtp.received)
    assert failed.startswith("[DSM] Pull FAILED")
    assert aborted.startswith("[DSM] Pull ABORTED")


def test_without_console_url_the_message_gives_the_path_and_says_so(
    smtp, launcher, settings, django_capture_on_commit_callbacks
):
    settings.CONSOLE_URL = None
    with django_capture_on_commit_callbacks(execute=True):
        job = ended_job(launcher, JobStatus.ABORTED)
    [message] = smtp.received
    assert f"The job's page: /admin/jobs/job/{job.pk}/change/\n" in message.body
    assert "CONSOLE_URL is not set" in message.body


def test_a_launcher_without_an_address_or_no_mail_server_is_recorded_as_skipped(
    operator, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_CONFIGURED = True
    with django_capture_on_commit_callbacks(execute=True):
        no_address = ended_job(operator, JobStatus.FAILED)
    operator.email = LAUNCHER
    operator.save()
    settings.EMAIL_CONFIGURED = False
    with django_capture_on_commit_callbacks(execute=True):
        no_server = ended_job(operator, JobStatus.FAILED)
    assert [(e.status, e.error) for e in EmailNotification.objects.filter(job=no_address)] == [
        ("SKIPPED", "olivia-operator has no email address")
    ]
    assert [(e.status, e.error) for e in EmailNotification.objects.filter(job=no_server)] == [
        ("SKIPPED", "no mail server is set")
    ]


# --- once, and only once it is committed ------------------------------------------------------


def test_the_task_is_queued_once_on_commit_and_a_second_end_queues_nothing(
    smtp, launcher, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = ended_job(launcher, JobStatus.SUCCEEDED)
        assert not job.mark_failed("Late", "a resumed finish, after the job had ended")
        assert not job.mark_aborted()
    assert len(callbacks) == 1  # one task, and nothing sent before the commit
    assert smtp.received == []
    assert not EmailNotification.objects.exists()
    callbacks[0]()
    assert len(smtp.received) == 1
    assert Job.objects.get(pk=job.pk).status == "SUCCEEDED"


def test_a_job_finished_twice_or_a_task_run_twice_sends_once(
    smtp, launcher, told_recipient, receiver, django_capture_on_commit_callbacks
):
    hook = hook_for(receiver)
    with django_capture_on_commit_callbacks(execute=True):
        job = ended_job(launcher, JobStatus.FAILED, recipient=told_recipient)
        job.mark_failed("Again", "the sweeper finishing it a second time")
    services.notify_job_end(str(job.pk))  # the broker delivering the task again
    services.enqueue(job.pk)  # and once more, through django-q2
    assert len(smtp.received) == 1
    assert len(receiver.got) == 1
    assert EmailNotification.objects.filter(job=job).count() == 1
    assert WebhookDelivery.objects.filter(hook=hook, job=job).count() == 1


def test_a_job_that_has_not_ended_is_not_told_about(smtp, launcher):
    job = Job.objects.create(
        share_request=ShareRequest.objects.create(fingerprint="running", config={}),
        share_type="pull",
        created_by=launcher,
        status=JobStatus.RUNNING,
    )
    assert services.notify_job_end(str(job.pk)) == "not finished"
    assert smtp.received == []
    assert not EmailNotification.objects.exists()


# --- failures never touch the job ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("server", "error"),
    [("refusing", "SMTPDataError: (554, b'5.7.1 Message rejected by policy')"), ("down", "")],
)
def test_a_mail_server_that_refuses_or_is_down_and_a_failing_hook_leave_the_job_as_it_ended(
    server, error, mail_settings, launcher, told_recipient, receiver, caplog, settings
):
    refusing = SmtpServer(refusal="554 5.7.1 Message rejected by policy").start()
    settings.EMAIL_PORT = refusing.port if server == "refusing" else free_port()
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    hook = hook_for(receiver, "/hooks/dsm?token=receivers-own-secret")
    receiver.answers = [500, 503]
    try:
        job = ended_job(launcher, JobStatus.SUCCEEDED, recipient=told_recipient)
        services.enqueue(job.pk)  # the real task, through django-q2 (sync mode)
        run_due_retries()
    finally:
        refusing.stop()
    job.refresh_from_db()
    assert job.status == "SUCCEEDED"
    assert not job.error_type
    emails = EmailNotification.objects.filter(job=job).order_by("kind")
    assert [(e.kind, e.status) for e in emails] == [("contacts", "FAILED"), ("launcher", "FAILED")]
    if server == "refusing":
        assert all(e.error == error for e in emails)
    else:
        assert all(e.error.startswith("ConnectionRefusedError") for e in emails)
    attempts = list(WebhookDelivery.objects.filter(hook=hook, job=job).order_by("attempt"))
    assert [(d.attempt, d.status, d.status_code) for d in attempts] == [
        (1, "FAILED", 500),
        (2, "FAILED", 503),
    ]
    assert attempts[0].next_attempt_at is not None
    assert attempts[1].next_attempt_at is None  # the last: gave up
    assert attempts[1].outcome == "failed; gave up after attempt 2"
    assert not Schedule.objects.filter(func=webhooks.RETRY_TASK).exists()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "not sent" in logged
    assert "attempt 2 of 2 failed: HTTP 503" in logged
    assert "receivers-own-secret" not in logged


# --- webhooks -----------------------------------------------------------------------------------


def test_a_webhook_gets_a_signed_event_and_a_retry_with_backoff_after_a_500(
    launch, demo, mail_settings, receiver, recipient
):
    hook = hook_for(receiver)
    receiver.answers = [500]
    body = launch(
        libraryIdList=["L2400001"],
        dataTypeList=["Fastq"],
        shareType="pull",
        dryrun=True,
        recipientId="garvan-ccg",
        purpose="DAA-0042",
    ).json()
    [first] = receiver.got
    failed = WebhookDelivery.objects.get(attempt=1)
    assert (failed.status, failed.status_code, failed.error) == (
        "FAILED",
        500,
        "HTTP 500 Internal Server Error",
    )
    [retry] = Schedule.objects.filter(func=webhooks.RETRY_TASK)
    assert retry.next_run == failed.next_attempt_at
    wait = (failed.next_attempt_at - failed.started_at).total_seconds()
    assert 0.2 <= wait <= 0.45  # half the step, plus up to half of it at random

    run_due_retries()
    _, second = receiver.got
    assert second.at - first.at >= 0.2
    assert first.signature_valid
    assert second.signature_valid
    assert second.body == first.body  # byte for byte: the same event
    assert second.headers["X-DSM-Delivery"] == first.headers["X-DSM-Delivery"]
    assert (first.headers["X-DSM-Attempt"], second.headers["X-DSM-Attempt"]) == ("1", "2")
    assert second.headers["X-DSM-Event"] == "job.ended"
    assert second.headers["X-DSM-Event-Id"] == str(event_id(body["id"]))
    assert [(d.attempt, d.status, d.status_code) for d in hook.deliveries.order_by("attempt")] == [
        (1, "FAILED", 500),
        (2, "DELIVERED", 200),
    ]
    assert all(d.duration_ms is not None for d in hook.deliveries.all())
    event = json.loads(second.body)
    job = event["job"]
    assert (event["type"], event["id"]) == ("job.ended", str(event_id(body["id"])))
    assert (job["id"], job["status"], job["shareType"], job["dryrun"]) == (
        body["id"],
        "SUCCEEDED",
        "pull",
        True,
    )
    assert (job["recipientId"], job["purpose"], job["error"]) == ("garvan-ccg", "DAA-0042", None)
    assert job["url"] == f"{CONSOLE}/admin/jobs/job/{body['id']}/change/"
    assert job["apiUrl"] == f"{CONSOLE}/api/v1/jobs/{body['id']}"
    assert job["objects"]["total"] == job["objects"]["done"] > 0
    assert job["finishedAt"].endswith("Z")
    assert job["startedAt"]
    assert job["createdAt"]


def test_a_receiver_holding_the_wrong_secret_refuses_the_delivery(
    mail_settings, operator, receiver, django_capture_on_commit_callbacks
):
    hook = hook_for(receiver)
    receiver.secret = "not-the-hooks-secret"
    with django_capture_on_commit_callbacks(execute=True):
        ended_job(operator)
    [got] = receiver.got
    assert not got.signature_valid
    assert got.answered == 401
    assert verify(hook.secret, got.body, got.headers["X-DSM-Signature"])  # the right one does
    assert not verify(hook.secret, got.body + b" ", got.headers["X-DSM-Signature"])
    delivery = hook.deliveries.get()
    assert (delivery.status, delivery.error) == ("FAILED", "HTTP 401 Unauthorized")


def test_a_hook_that_is_down_is_recorded_without_its_url(
    mail_settings, operator, caplog, django_capture_on_commit_callbacks
):
    url = f"http://127.0.0.1:{free_port()}/hooks/T0KEN-in-the-path?key=s3cr3t"
    hook = Webhook.objects.create(url=url)
    with django_capture_on_commit_callbacks(execute=True):
        job = ended_job(operator)
    delivery = hook.deliveries.get()
    assert delivery.status == "FAILED"
    assert delivery.status_code is None
    assert delivery.error.startswith("ConnectionError: ")
    assert "<hook path>" in delivery.error
    for secret in ("T0KEN", "s3cr3t"):
        assert secret not in delivery.error
        assert secret not in caplog.text
    assert Job.objects.get(pk=job.pk).status == "SUCCEEDED"


def test_a_redirect_is_a_failure_and_is_not_followed(
    mail_settings, operator, receiver, django_capture_on_commit_callbacks
):
    hook = hook_for(receiver)
    receiver.answers = [302]
    with django_capture_on_commit_callbacks(execute=True):
        ended_job(operator)
    assert [got.path for got in receiver.got] == ["/hooks/dsm"]  # not /moved-elsewhere
    delivery = hook.deliveries.get()
    assert (delivery.status, delivery.error) == ("FAILED", "HTTP 302 Found")
    assert delivery.next_attempt_at is not None


def test_a_hook_that_answers_too_late_has_failed(
    mail_settings, operator, receiver, django_capture_on_commit_callbacks
):
    mail_settings.WEBHOOK_TIMEOUT_SECONDS = 0.3
    hook = hook_for(receiver)
    receiver.delay = 1.0
    with django_capture_on_commit_callbacks(execute=True):
        ended_job(operator)
    delivery = hook.deliveries.get()
    assert delivery.status == "FAILED"
    assert delivery.error.startswith("ReadTimeout: ")
    assert 300 <= delivery.duration_ms < 1000


def test_inactive_hooks_get_nothing_and_a_hook_made_inactive_is_not_retried(
    mail_settings, operator, receiver, django_capture_on_commit_callbacks
):
    Webhook.objects.create(url=receiver.url("/off"), active=False)
    hook = hook_for(receiver)
    receiver.answers = [500]
    with django_capture_on_commit_callbacks(execute=True):
        ended_job(operator)
    assert [got.path for got in receiver.got] == ["/hooks/dsm"]
    Webhook.objects.filter(pk=hook.pk).update(active=False)
    run_due_retries()
    assert len(receiver.got) == 1
    delivery = hook.deliveries.get()
    assert delivery.next_attempt_at is None
    assert delivery.error == "HTTP 500 Internal Server Error (not retried: the hook is inactive)"


@pytest.mark.e2e  # a real qcluster, whose scheduler first looks after 30 s
@pytest.mark.django_db(transaction=True)
def test_a_retry_outlives_the_worker_that_scheduled_it(
    operator, receiver, s3_endpoint, tmp_path, settings
):
    """The first attempt fails in one process (then gone, as a worker that restarts); the
    retry is a Schedule row in the database, which a cluster started afterwards delivers."""
    settings.WEBHOOK_BACKOFF_SECONDS = 1
    hook = hook_for(receiver)
    receiver.answers = [500]
    job = ended_job(operator)
    services.notify_job_end(str(job.pk))
    assert Schedule.objects.filter(func=webhooks.RETRY_TASK).count() == 1

    log = tmp_path / "qcluster.log"
    cluster = start_cluster(s3_endpoint, log)
    try:
        deadline = time.monotonic() + 90
        while len(receiver.got) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        stop(cluster)
    assert len(receiver.got) == 2, log.read_text()
    assert receiver.got[1].signature_valid
    assert [(d.attempt, d.status) for d in hook.deliveries.order_by("attempt")] == [
        (1, "FAILED"),
        (2, "DELIVERED"),
    ]
    assert not Schedule.objects.filter(func=webhooks.RETRY_TASK).exists()


def test_backoff_doubles_up_to_its_cap_with_jitter(settings):
    settings.WEBHOOK_BACKOFF_SECONDS = 60
    settings.WEBHOOK_BACKOFF_MAX_SECONDS = 600
    for attempts_made, step in [(1, 60), (2, 120), (3, 240), (4, 480), (5, 600), (9, 600)]:
        waits = {webhooks.backoff(attempts_made).total_seconds() for _ in range(50)}
        assert all(step / 2 <= wait <= step for wait in waits), (attempts_made, waits)
        assert len(waits) > 1  # jittered


# --- the console --------------------------------------------------------------------------------


def test_an_operator_registers_a_webhook_and_reads_its_secret_and_deliveries(
    operator, viewer, mail_settings, receiver, django_capture_on_commit_callbacks
):
    console = Client()
    console.force_login(operator)
    refused = console.post(
        "/admin/notifications/webhook/add/", {"url": "ftp://lims.example.org/x", "active": "on"}
    )
    assert refused.status_code == 200
    assert "Enter an http:// or https:// URL" in refused.content.decode()
    assert not Webhook.objects.exists()

    added = console.post(
        "/admin/notifications/webhook/add/",
        {"url": receiver.url(), "description": "LIMS", "active": "on"},
    )
    hook = Webhook.objects.get()
    assert added.status_code == 302
    assert added.url == f"/admin/notifications/webhook/{hook.pk}/change/"
    receiver.secret = hook.secret
    assert len(hook.secret) >= 40
    with django_capture_on_commit_callbacks(execute=True):
        job = ended_job(operator)
    page = console.get(added.url).content.decode()
    assert hook.secret in page  # shown to the operator, for the receiver
    assert f"/admin/jobs/job/{job.pk}/change/" in page
    assert "delivered (2xx)" in page

    deliveries = console.get("/admin/notifications/webhookdelivery/").content.decode()
    assert str(job.pk) in deliveries
    found = console.get(f"/admin/notifications/webhookdelivery/?q={job.pk}").content.decode()
    assert "1 webhook delivery" in found
    assert console.get("/admin/notifications/webhookdelivery/add/").status_code == 403

    looker = Client()
    looker.force_login(viewer)
    assert looker.get("/admin/notifications/webhook/").status_code == 403
    assert looker.get(added.url).status_code == 403
    assert looker.get("/admin/notifications/webhookdelivery/").status_code == 200
    assert looker.get("/admin/notifications/emailnotification/").status_code == 200


def test_new_secrets_sign_the_next_deliveries(operator, mail_settings, receiver):
    hook = hook_for(receiver)
    old = hook.secret
    console = Client()
    console.force_login(operator)
    console.post(
        "/admin/notifications/webhook/",
        {"action": "give_new_secrets", "_selected_action": [hook.pk]},
    )
    hook.refresh_from_db()
    assert hook.secret != old


# --- settings -----------------------------------------------------------------------------------


def test_email_url_gives_djangos_mail_settings(monkeypatch):
    from sharing_project.env import read_email

    monkeypatch.setenv("EMAIL_URL", "smtp+tls://dsm%40example.org:p%40ss%2Fw0rd@mail.example.org")
    config = read_email()
    assert config["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (config["EMAIL_HOST"], config["EMAIL_PORT"]) == ("mail.example.org", 587)
    assert (config["EMAIL_HOST_USER"], config["EMAIL_HOST_PASSWORD"]) == (
        "dsm@example.org",
        "p@ss/w0rd",
    )
    assert (config["EMAIL_USE_TLS"], config["EMAIL_USE_SSL"]) == (True, False)
    monkeypatch.delenv("EMAIL_URL")
    monkeypatch.setenv("EMAIL_HOST", "relay.example.org")
    monkeypatch.setenv("EMAIL_USE_SSL", "true")
    monkeypatch.setenv("EMAIL_PORT", "465")
    config = read_email()
    assert (config["EMAIL_HOST"], config["EMAIL_PORT"], config["EMAIL_USE_SSL"]) == (
        "relay.example.org",
        465,
        True,
    )
    monkeypatch.delenv("EMAIL_HOST")
    assert read_email() is None


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"EMAIL_URL": "mail.example.org"}, "EMAIL_URL must be an email URL"),
        ({"EMAIL_URL": "imap://u:hunter2@mail.example.org"}, "got the scheme 'imap'"),
        ({"EMAIL_URL": "smtp://u:hunter2@mail.example.org:port"}, "not a valid email URL"),
        ({"EMAIL_URL": "smtp://u:hunter2@:25"}, "names no mail server"),
        ({"EMAIL_URL": "smtp+tls://u:hunter2@h:587?EMAIL_USE_SSL=1"}, "exclude each other"),
        ({"EMAIL_HOST": "h", "EMAIL_PORT": "0"}, "EMAIL_PORT must be between 1 and 65535"),
        ({"EMAIL_HOST": "h", "EMAIL_USE_TLS": "maybe"}, "EMAIL_USE_TLS must be true or false"),
    ],
)
def test_a_malformed_mail_setting_stops_start_up_without_repeating_the_password(
    monkeypatch, variables, message
):
    from django.core.exceptions import ImproperlyConfigured

    from sharing_project.env import read_email

    for name in ("EMAIL_URL", "EMAIL_HOST", "EMAIL_PORT", "EMAIL_USE_TLS", "EMAIL_USE_SSL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfigured) as refused:
        read_email()
    assert message in str(refused.value)
    assert "hunter2" not in str(refused.value)
