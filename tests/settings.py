"""Settings for the test suite: the real settings, with the environment a test run needs.

The S3 endpoint is the loopback server that tests/conftest.py starts once per session.
PostgreSQL is used whenever DATABASE_URL points to it (CI sets it); otherwise SQLite.
"""

import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("SECRET_KEY", "insecure-key-for-tests-only")
os.environ.setdefault("DSM_DATA_DIR", str(_ROOT / "test-artifacts" / "data"))
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_REGION", "ap-southeast-2")
os.environ.setdefault("CHECKSUM_READ_OBJECTS", "true")
# The test client and the browser tests speak plain http to servers on loopback: no redirect to
# https, cookies sent over http (tests/test_deploy_check.py checks the production defaults).
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SESSION_COOKIE_SECURE", "false")
os.environ.setdefault("CSRF_COOKIE_SECURE", "false")
# Never let a developer's own AWS configuration reach the tests, nor the settings that
# `make run` leaves for the command line (data/embedded.env).
os.environ.pop("AWS_PROFILE", None)
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ["DSM_ENV_FILE"] = os.devnull

from sharing_project.settings import *  # noqa: E402, F403

# Tests do not run collectstatic: whitenoise looks for the files where they are.
WHITENOISE_AUTOREFRESH = True

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Tasks run through django-q2's own worker code, in the test's process and transaction
# (tests/test_worker.py runs a real `qcluster` process instead).
Q_CLUSTER = {**Q_CLUSTER, "sync": True}  # noqa: F405
LOGGING["loggers"]["django-q"] = {"level": "WARNING"}  # noqa: F405
# A push's heartbeat renews its lease from a thread with a connection of its own, which waits
# for the test's open transaction (SQLite's write lock, PostgreSQL's row locks): in-process
# tests finish long before a beat of this lease. A real cluster gets the default.
JOB_LEASE_SECONDS = 120

# A test suite is one user in a hurry (and SQLite gives each test's user the same id): the API
# is not throttled in tests but in tests/test_api_limits.py, which sets a rate of its own.
API_THROTTLE_RATE = None

# A file, not memory, so that a real worker process (tests/test_worker.py) sees the test data.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    # One file per run, so that two test runs on one machine never share a database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-db-{os.getpid()}.sqlite3")}  # noqa: F405
