"""Settings, read once from the environment (see docs/configuration.md).

Safe defaults serve the embedded mode that `make run` starts (DSM_EMBEDDED=true): a SQLite file
and a generated secret key in the data folder, DEBUG on, an S3 server on loopback. `make run`
also writes its settings to data/embedded.env, read here when it exists (the environment wins),
so that `manage.py` typed in another shell of the checkout reaches the same run. Any other run
must set SECRET_KEY; a malformed value stops start-up with a message that names the variable.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from sharing_project.env import (
    embedded_secret_key,
    raw,
    read_bool,
    read_database,
    read_decimal,
    read_email,
    read_env_file,
    read_int,
    read_list,
    read_rate,
    read_str,
    read_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
# Written by `make run` (scripts/run_embedded.py); DSM_ENV_FILE=/dev/null reads none.
ENV_FILE = Path(read_str("DSM_ENV_FILE", str(BASE_DIR / "data" / "embedded.env")))
read_env_file(ENV_FILE)

EMBEDDED = read_bool("DSM_EMBEDDED", False)
DATA_DIR = Path(read_str("DSM_DATA_DIR", str(BASE_DIR / "data"))).resolve()

SECRET_KEY = raw("SECRET_KEY") or (embedded_secret_key(DATA_DIR) if EMBEDDED else None)
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Set it to a long random string, or use `make run` for the "
        "embedded mode (DSM_EMBEDDED=true), which generates one; once `make run` has started, "
        f"manage.py in another shell of this checkout reads it from {ENV_FILE}."
    )

DEBUG = read_bool("DEBUG", EMBEDDED)
if DEBUG and not EMBEDDED:
    # DEBUG pages show settings, SQL and tracebacks to anyone who can make a request fail.
    raise ImproperlyConfigured(
        "DEBUG=true is refused outside the embedded run: it shows settings and tracebacks to "
        "every visitor. Unset DEBUG (or set DEBUG=false) in production; `make run` "
        "(DSM_EMBEDDED=true) is the mode with DEBUG on."
    )
ALLOWED_HOSTS = read_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = read_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "axes",  # login lockout (see "Security" below)
    "catalogue",
    "shares",
    "jobs",
    "recipients",
    "notifications",
    "auditlog",  # django-auditlog: recipients' field changes (see "Audit trail" below)
    "audit",
    "sharelinks",
    "ops",
]

MIDDLEWARE = [
    # Outermost, so that its line times the whole request (ops/logs.py).
    "ops.logs.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # The admin's and the API docs' static files, served by the app itself under gunicorn.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Who acts and from which address, for the audit trail (audit/context.py).
    "audit.context.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "sharing_project.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "sharing_project.wsgi.application"

_database = read_database("DATABASE_URL", f"sqlite:///{DATA_DIR / 'db.sqlite3'}")
if _database["ENGINE"].endswith("sqlite3"):
    # The web server and the workers write at once: WAL lets readers go on during a write,
    # IMMEDIATE transactions take the write lock up front instead of failing on upgrade, and
    # the timeout waits for the lock rather than raising "database is locked".
    _database["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    if _database["NAME"] not in ("", ":memory:"):
        Path(_database["NAME"]).parent.mkdir(parents=True, exist_ok=True)
else:
    _database["CONN_MAX_AGE"] = read_int("DATABASE_CONN_MAX_AGE", 60, minimum=0, maximum=3600)
    _database["CONN_HEALTH_CHECKS"] = True
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = read_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Filled by `manage.py collectstatic` (`make run` runs it at each start), served by whitenoise;
# with DEBUG on, whitenoise also finds them where they are, as runserver did.
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]

LOGIN_URL = "admin:login"

# --- Security (issue 13): HTTPS, cookies, HSTS, content security policy, login lockout -------
# Outside the embedded run (plain http on loopback) everything defaults to what
# `manage.py check --deploy` asks for; each variable turns its part off (docs/configuration.md).
_PRODUCTION = not EMBEDDED
SECURE_SSL_REDIRECT = read_bool("SECURE_SSL_REDIRECT", _PRODUCTION)
# Only when the TLS proxy in front sets X-Forwarded-Proto (and strips a client's own): with it
# unset, a proxy speaking http to gunicorn would get redirected to https forever.
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if read_bool("SECURE_PROXY_SSL_HEADER", False) else None
)
SESSION_COOKIE_SECURE = read_bool("SESSION_COOKIE_SECURE", _PRODUCTION)
CSRF_COOKIE_SECURE = read_bool("CSRF_COOKIE_SECURE", _PRODUCTION)
SECURE_HSTS_SECONDS = read_int(
    "SECURE_HSTS_SECONDS",
    365 * 24 * 3600 if _PRODUCTION else 0,
    minimum=0,
    maximum=2 * 365 * 24 * 3600,
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = read_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", _PRODUCTION)
SECURE_HSTS_PRELOAD = read_bool("SECURE_HSTS_PRELOAD", _PRODUCTION)

# django-csp 4: the console (admin) loads only its own scripts and styles; no inline script
# anywhere. The API docs page relaxes style-src for its inline <style> (sharing_project/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# django-axes: a username that fails LOGIN_FAILURE_LIMIT times from one address is locked out
# there for LOGIN_LOCKOUT_MINUTES (others, and that user elsewhere, are not). It watches
# password logins only: API tokens never pass through authenticate().
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = read_int("LOGIN_FAILURE_LIMIT", 5, minimum=1, maximum=1000)
AXES_COOLOFF_TIME = timedelta(
    minutes=read_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1, maximum=7 * 24 * 60)
)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Behind proxies the connection's address is the proxy's: with FORWARDED_FOR_PROXIES set, the
# client is the entry that many from the right of X-Forwarded-For (django-ipware), and entries a
# client wrote itself, to their left, are passed over (not strict).
FORWARDED_FOR_PROXIES = read_int("FORWARDED_FOR_PROXIES", 0, minimum=0, maximum=10)
if FORWARDED_FOR_PROXIES:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
    AXES_IPWARE_PROXY_COUNT = FORWARDED_FOR_PROXIES - 1
    IPWARE_STRICT = False
else:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)

# --- Audit trail (docs/audit.md) ------------------------------------------------------------
# django-auditlog records each change of a recipient (the fields operators edit, old and new, as
# JSON: registered in audit/apps.py); the app `audit` copies it into its append-only trail
# beside the share actions it records itself.
AUDITLOG_STORE_JSON_CHANGES = True

# --- Object storage -------------------------------------------------------------------------
# boto3's own configuration (profiles, roles, AWS_* credentials) applies; these two are read
# here so that the whole service, and presigned URLs, agree on the endpoint and region.
AWS_ENDPOINT_URL = read_url("AWS_ENDPOINT_URL")
AWS_REGION = read_str("AWS_REGION", read_str("AWS_DEFAULT_REGION", "ap-southeast-2"))
SHARING_BUCKET = read_str("SHARING_BUCKET", "dsm-sharing")
DEMO_BUCKET = read_str("DEMO_BUCKET", "dsm-demo-data")
# S3 refuses presigned URLs that live longer than seven days.
PRESIGNED_URL_MAX_LIFETIME_SECONDS = 7 * 24 * 3600
PRESIGNED_URL_LIFETIME_SECONDS = read_int(
    "PRESIGNED_URL_LIFETIME_SECONDS",
    PRESIGNED_URL_MAX_LIFETIME_SECONDS,
    minimum=60,
    maximum=PRESIGNED_URL_MAX_LIFETIME_SECONDS,
)
S3_MAX_ATTEMPTS = read_int("S3_MAX_ATTEMPTS", 8, minimum=1, maximum=20)
# A dedicated signing identity (an AWS profile with long-term keys) for week-long links:
# links signed with temporary credentials die when those credentials do.
PRESIGN_AWS_PROFILE = read_str("PRESIGN_AWS_PROFILE", "") or None
# How long temporary credentials (a session token with no known expiry) are taken to last.
TEMPORARY_CREDENTIALS_LIFETIME_SECONDS = read_int(
    "TEMPORARY_CREDENTIALS_LIFETIME_SECONDS", 3600, minimum=60, maximum=7 * 24 * 3600
)
RESTORE_DAYS = read_int("RESTORE_DAYS", 7, minimum=1, maximum=365)
RESTORE_TIER = read_str("RESTORE_TIER", "Standard")
if RESTORE_TIER not in ("Standard", "Bulk", "Expedited"):
    raise ImproperlyConfigured(
        f"RESTORE_TIER must be Standard, Bulk or Expedited, got {RESTORE_TIER!r}."
    )

# --- Sharing --------------------------------------------------------------------------------
DRYRUN_MAX_AGE_SECONDS = read_int(
    "DRYRUN_MAX_AGE_SECONDS", 7 * 24 * 3600, minimum=60, maximum=365 * 24 * 3600
)
# Every share names its recipient and purpose (docs/recipients.md); off, clients that send only
# the seed's fields keep working.
SHARE_REQUIRES_RECIPIENT = read_bool("SHARE_REQUIRES_RECIPIENT", False)

# --- Cost estimates (a dry run's estimate, jobs/estimate.py; docs/configuration.md) -----------
# Prices per GB (2**30 bytes, as AWS bills) of data leaving the data's region (AWS_REGION): to
# the internet (a pull's downloads, an ICAv2 push) and to another AWS region (an S3 push to a
# bucket elsewhere; within the region S3 charges nothing). The defaults are AWS's list prices
# for us-east-1's first 10 TB a month: set your region's and your agreement's.
EGRESS_PRICE_PER_GB_INTERNET = read_decimal(
    "EGRESS_PRICE_PER_GB_INTERNET", "0.09", minimum="0", maximum="1000", places=4
)
EGRESS_PRICE_PER_GB_CROSS_REGION = read_decimal(
    "EGRESS_PRICE_PER_GB_CROSS_REGION", "0.02", minimum="0", maximum="1000", places=4
)
EGRESS_CURRENCY = read_str("EGRESS_CURRENCY", "USD")
if not re.fullmatch(r"[A-Za-z$\u00a3\u20ac\u00a5]{1,8}", EGRESS_CURRENCY):
    raise ImproperlyConfigured(
        "EGRESS_CURRENCY must be a currency code or sign of up to 8 characters, such as USD or "
        f"AUD, got {EGRESS_CURRENCY!r}."
    )
# The sustained throughput a transfer is assumed to get (megabits per second): the
# collaborator's download link for a pull, the copy's for a push.
TRANSFER_BANDWIDTH_MBPS = read_int("TRANSFER_BANDWIDTH_MBPS", 1000, minimum=1, maximum=1_000_000)

# --- Notifications (docs/notifications.md) ----------------------------------------------------
# The console's public address (https://dsm.example.org): messages link to a job's page under
# it. Unset, they carry the page's path alone (the embedded run: its own address on loopback).
CONSOLE_URL = read_url("CONSOLE_URL") or (
    f"http://127.0.0.1:{read_str('DSM_PORT', '8000')}" if EMBEDDED else None
)
# Mail: EMAIL_URL, or EMAIL_HOST and its companions (sharing_project.env.read_email). Unset, no
# email is sent (each one is recorded as skipped); the embedded run writes them as files under
# data/mail rather than to its terminal, which would put a pull's links in a log.
_email = read_email("EMAIL_URL")
if _email is None and EMBEDDED:
    _email = {
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(DATA_DIR / "mail"),
    }
EMAIL_CONFIGURED = _email is not None
_email = _email or {}
EMAIL_BACKEND = _email.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = _email.get("EMAIL_HOST", "localhost")
EMAIL_PORT = _email.get("EMAIL_PORT", 25)
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
EMAIL_FILE_PATH = _email.get("EMAIL_FILE_PATH") or str(DATA_DIR / "mail")
# Django waits forever for a mail server by default; a notification task must not.
EMAIL_TIMEOUT = read_int("EMAIL_TIMEOUT", 10, minimum=1, maximum=300)
DEFAULT_FROM_EMAIL = read_str("DEFAULT_FROM_EMAIL", "Data Sharing Manager <dsm@localhost>")
# Webhooks: a failed delivery (no connection, no answer in time, an answer that is not 2xx) is
# tried again after WEBHOOK_BACKOFF_SECONDS, then twice as long each time (at most
# WEBHOOK_BACKOFF_MAX_SECONDS, with random jitter), up to WEBHOOK_MAX_ATTEMPTS in all.
WEBHOOK_MAX_ATTEMPTS = read_int("WEBHOOK_MAX_ATTEMPTS", 6, minimum=1, maximum=20)
WEBHOOK_BACKOFF_SECONDS = read_int("WEBHOOK_BACKOFF_SECONDS", 60, minimum=1, maximum=24 * 3600)
WEBHOOK_BACKOFF_MAX_SECONDS = read_int(
    "WEBHOOK_BACKOFF_MAX_SECONDS", 3600, minimum=1, maximum=7 * 24 * 3600
)
WEBHOOK_TIMEOUT_SECONDS = read_int("WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1, maximum=300)

# --- Share links: the service as a pull's download endpoint (docs/pull.md) -------------------
# The service's address as collaborators reach it (https://dsm.example.org). Set, a pull gets a
# share link: the script fetches every file through {PUBLIC_BASE_URL}/s/<token>/..., which
# answers with a fresh presigned URL, until the share expires or an operator revokes it; GA4GH
# DRS reads the same shares under /ga4gh/drs/v1. Unset, a pull hands out presigned links (the
# embedded run uses its own loopback address).
PUBLIC_BASE_URL = read_url("PUBLIC_BASE_URL") or (
    f"http://127.0.0.1:{read_str('DSM_PORT', '8000')}" if EMBEDDED else None
)
if PUBLIC_BASE_URL is not None and not re.fullmatch(
    r"https?://[A-Za-z0-9.:\[\]/_~-]+", PUBLIC_BASE_URL
):
    raise ImproperlyConfigured(
        "PUBLIC_BASE_URL must be a plain http(s) address such as https://dsm.example.org or "
        f"https://example.org/dsm (letters, digits and . : / _ ~ - only), got {PUBLIC_BASE_URL!r}."
    )
# How long a share link lives unless the launch asks otherwise (shareLinkExpiryDays), and the
# longest a launch may ask for.
SHARE_LINK_DEFAULT_DAYS = read_int("SHARE_LINK_DEFAULT_DAYS", 30, minimum=1, maximum=3650)
SHARE_LINK_MAX_DAYS = read_int("SHARE_LINK_MAX_DAYS", 90, minimum=1, maximum=3650)
if SHARE_LINK_DEFAULT_DAYS > SHARE_LINK_MAX_DAYS:
    raise ImproperlyConfigured(
        f"SHARE_LINK_DEFAULT_DAYS ({SHARE_LINK_DEFAULT_DAYS}) is longer than "
        f"SHARE_LINK_MAX_DAYS ({SHARE_LINK_MAX_DAYS}): lower the one or raise the other."
    )
# Each request to a share link is answered with a presigned URL that lives this long (a
# download that has started goes on past it; a resumed one asks the link again).
SHARE_LINK_REDIRECT_SECONDS = read_int("SHARE_LINK_REDIRECT_SECONDS", 600, minimum=60, maximum=3600)
# Requests per share link (per client address for a token that matches no share), then 429
# with Retry-After, which the download script and curl honour.
SHARE_LINK_RATE = read_rate("SHARE_LINK_RATE", "6000/minute")
# The key share tokens are derived from (only their hashes are stored): SECRET_KEY unless set.
# Changing it keeps issued links working but the console can no longer show them.
SHARE_TOKEN_SECRET = raw("SHARE_TOKEN_SECRET") or SECRET_KEY
# Whom a collaborator whose share was revoked or has expired is told to contact.
DATA_CUSTODIAN_CONTACT = read_str("DATA_CUSTODIAN_CONTACT", "") or DEFAULT_FROM_EMAIL
# The organisation GA4GH DRS's service-info names (docs/drs.md). Unset: the host of
# PUBLIC_BASE_URL, and PUBLIC_BASE_URL itself.
DRS_ORGANIZATION_NAME = read_str("DRS_ORGANIZATION_NAME", "")
DRS_ORGANIZATION_URL = read_url("DRS_ORGANIZATION_URL") or ""

# --- ICAv2 ----------------------------------------------------------------------------------
# Pushes to icav2:// destinations (see docs/icav2.md); off until an API key is set.
ICAV2_BASE_URL = read_url("ICAV2_BASE_URL") or "https://ica.illumina.com/ica/rest"
ICAV2_API_KEY = raw("ICAV2_API_KEY")

# --- Push ------------------------------------------------------------------------------------
# One CopyObject per object is the fast path; parts only above this (always above 5 GiB).
PUSH_MULTIPART_THRESHOLD = read_int(
    "PUSH_MULTIPART_THRESHOLD", 1024**3, minimum=5 * 1024**2, maximum=5 * 1024**3
)
PUSH_PART_SIZE = read_int("PUSH_PART_SIZE", 128 * 1024**2, minimum=5 * 1024**2, maximum=5 * 1024**3)
PUSH_THREADS = read_int("PUSH_THREADS", 16, minimum=1, maximum=128)
PUSH_BATCH_SIZE = read_int("PUSH_BATCH_SIZE", 2000, minimum=1, maximum=100_000)
PUSH_STORAGE_CLASS = read_str("PUSH_STORAGE_CLASS", "") or None
PUSH_BUCKET_OWNER_FULL_CONTROL = read_bool("PUSH_BUCKET_OWNER_FULL_CONTROL", False)
# A push's workers renew the job's lease and their objects' claims every third of this; a
# worker that dies is noticed when they run out, and its objects are copied by another.
JOB_LEASE_SECONDS = read_int("JOB_LEASE_SECONDS", 30, minimum=2, maximum=3600)
# How long a push's batch waits for a database that went away (a restart, a failover) before
# it gives up; its writes are tried again, on a new connection, until then.
JOB_DB_WAIT_SECONDS = read_int("JOB_DB_WAIT_SECONDS", 300, minimum=0, maximum=3600)

# --- Checksums ------------------------------------------------------------------------------
# An object with no checksum known (no MD5 ETag, no full-object checksum in S3, none in the
# catalogue) is read once by a worker to compute one; with this off it is shared verified by
# size only, and the dry run says so.
CHECKSUM_READ_OBJECTS = read_bool("CHECKSUM_READ_OBJECTS", EMBEDDED)
CHECKSUM_THREADS = read_int("CHECKSUM_THREADS", 4, minimum=1, maximum=64)

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "sharing_project.pagination.StandardPagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    # --- Hostile clients (issue 13): JSON bodies only, bounded; per-user throttling ---
    "DEFAULT_PARSER_CLASSES": ["sharing_project.parsers.BoundedJSONParser"],
    "DEFAULT_THROTTLE_CLASSES": ["sharing_project.throttles.ApiUserThrottle"],
}

# --- Hostile clients (issue 13): the API's limits, see docs/configuration.md ---------------
# A request body larger than this is refused with 413 (Django's own default for form data).
API_MAX_BODY_BYTES = read_int("API_MAX_BODY_BYTES", 2_621_440, minimum=1024, maximum=1024**3)
# Ids in one list of a launch (libraryIdList, portalRunIdList...); more is a 400 naming it.
API_MAX_IDS = read_int("API_MAX_IDS", 10_000, minimum=1, maximum=1_000_000)
# Requests per user ("N/second", "N/minute", "N/hour", "N/day"; "off": no limit), then 429.
API_THROTTLE_RATE = read_rate("API_THROTTLE_RATE", "600/minute")

SPECTACULAR_SETTINGS = {
    "TITLE": "Data Sharing Manager API",
    "DESCRIPTION": "Share fastq and secondary-analysis data by push (S3, ICAv2) or pull "
    "(presigned download script and LIMS CSV).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "PREPROCESSING_HOOKS": ["sharing_project.openapi.paths_without_trailing_slash"],
    # Hostile clients (issue 13): every 400/401/403/404/413/415/429 the API answers, declared.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "sharing_project.openapi.declare_error_responses",
    ],
    # Three vocabularies are called "status": each gets a name of its own.
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "jobs.models.JobStatus",
        "JobObjectStatusEnum": "jobs.models.JobObject.Status",
        "WorkflowRunStatusEnum": "catalogue.models.WorkflowRun.Status",
        "AuditActionEnum": "audit.models.AuditAction",
    },
}

# --- Background work (django-q2, ORM broker: receipts, so a task outlives a crashed worker) --
_q_timeout = read_int("Q_CLUSTER_TIMEOUT", 3600, minimum=10, maximum=24 * 3600)
Q_CLUSTER = {
    "name": "dsm",
    "orm": "default",
    "workers": read_int("Q_CLUSTER_WORKERS", 2, minimum=1, maximum=64),
    "timeout": _q_timeout,
    # retry must exceed timeout, or django-q2 delivers a running task a second time.
    "retry": _q_timeout + 300,
    "max_attempts": 1,
    "catch_up": False,
    # How long an idle cluster waits before it looks for tasks again: every hand-over through
    # the queue (a job's start, a push's further batches) waits up to this. django-q2's
    # default is 0.2 s; 0.05 s starts a job 75 ms sooner on average, which a short push
    # notices (docs/benchmarks.md), for one small query per poll: an idle cluster of two
    # workers uses about 6% of a core instead of 1%. Many idle clusters on one database may
    # prefer a longer poll.
    "poll": read_int("Q_CLUSTER_POLL_MS", 50, minimum=10, maximum=5000) / 1000,
    "save_limit": 1000,
    "ack_failures": True,
    "label": "Background tasks",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": read_str("LOG_LEVEL", "INFO").upper()},
    "loggers": {
        "botocore": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        "werkzeug": {"level": "WARNING"},
    },
}

# --- Operations: health, metrics, logs for machines (docs/operations.md) --------------------
# django-q2 keeps each cluster's heartbeat (its Stat) in a Django cache: a database table, so
# that /readyz and /metrics in the web processes see the clusters on every host. The default
# cache stays in memory, per process.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "cluster_status": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "ops_cluster_status_cache",  # created by migrate (ops/migrations)
    },
}
Q_CLUSTER["cache"] = "cluster_status"
# Load balancers probe gunicorn over plain http: no redirect to https for the two probes
# (/metrics carries a token, so it is not exempt).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
# /metrics answers only with this bearer token; unset, the endpoint is off (404).
METRICS_TOKEN = raw("METRICS_TOKEN") or None
if METRICS_TOKEN is not None and len(METRICS_TOKEN) < 16:
    raise ImproperlyConfigured(
        "METRICS_TOKEN must be at least 16 characters long; generate one with "
        "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`."
    )
LOG_FORMAT = read_str("LOG_FORMAT", "plain").lower()
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, got {LOG_FORMAT!r}.")
LOGGING["formatters"] = {
    "plain": {"()": "ops.logs.PlainFormatter"},
    "json": {"()": "ops.logs.JsonFormatter"},
}
LOGGING["handlers"]["console"]["formatter"] = LOG_FORMAT
# SQL at DEBUG carries its parameters: API tokens, presigned links.
LOGGING["loggers"]["django.db.backends"] = {"level": "INFO"}
# django-axes announces its configuration at every start of every process.
LOGGING["loggers"]["axes"] = {"level": "WARNING"}
# A failed readiness check is in /readyz's answer; its traceback at every probe is noise.
LOGGING["loggers"]["health_check"] = {"level": "ERROR"}
