"""`make run`: the whole service on one machine, with nothing to configure.

Steps: write the run's settings to data/embedded.env, for the management commands typed in
another shell of the checkout; start an S3 server (moto's server mode) on loopback unless
AWS_ENDPOINT_URL is set; migrate; prepare the sharing bucket, roles, demo data and demo operator;
collect the static files (whitenoise serves them); start the django-q2 cluster and the web
server (gunicorn, sharing_project/gunicorn_conf.py); print where to log in. Ctrl-C stops
everything it started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from sharing_project.env import embedded_secret_key, write_env_file  # noqa: E402 (needs ROOT on the path)

PYTHON = sys.executable
MANAGE = [PYTHON, str(ROOT / "manage.py")]
# A production server (not runserver): workers and threads from WEB_WORKERS and WEB_THREADS.
WEB_SERVER = [PYTHON, "-m", "gunicorn", "-c", "python:sharing_project.gunicorn_conf"]
# Where settings.py looks for it by default; the data folder is git-ignored.
ENV_FILE = ROOT / "data" / "embedded.env"
# What `manage.py` in another shell needs to reach this run: the database (DSM_DATA_DIR or
# DATABASE_URL), the secret key django-q2 signs queued tasks with, and the S3 server.
SHARED_VARIABLES = (
    "DSM_DATA_DIR",
    "DATABASE_URL",
    "SECRET_KEY",
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
)
# Only the embedded S3 server's made-up keys: real ones stay out of files.
EMBEDDED_S3_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def main() -> int:
    external_s3 = bool(os.environ.get("AWS_ENDPOINT_URL"))
    env = _embedded_environment()
    Path(env["DSM_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    children: list[subprocess.Popen] = []
    try:
        _write_env_file(env, external_s3)
        if not external_s3:
            children.append(_start_s3_server(env))
        _run([*MANAGE, "migrate", "--noinput", "-v", "0"], env)
        prepare = [*MANAGE, "prepare_embedded"]
        # Demo objects go to the embedded server only, unless asked for with DSM_SEED_DEMO.
        if external_s3 and env.get("DSM_SEED_DEMO", "").lower() not in ("1", "true", "yes"):
            prepare.append("--no-demo")
        credentials = _login_from(_run(prepare, env, capture=True))
        children.append(_start([*MANAGE, "qcluster"], env))
        _run([*MANAGE, "collectstatic", "--noinput", "-v", "0"], env)
        web = f"127.0.0.1:{env['DSM_PORT']}"
        children.append(_start([*WEB_SERVER, "--bind", web], env))
        _wait_for_http(f"http://{web}/admin/login/", "web server")
        _print_banner(web, env, credentials)
        _wait(children)
    except KeyboardInterrupt:
        print("\nStopping...")
    except RuntimeError as error:
        print(f"make run: {error}", file=sys.stderr)
        return 1
    finally:
        _stop(children)
    return 0


def _embedded_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DSM_EMBEDDED", "true")
    env["DSM_DATA_DIR"] = str(Path(env.get("DSM_DATA_DIR") or ROOT / "data").resolve())
    # The key the embedded mode would generate, given to every process and to the env file.
    env["SECRET_KEY"] = env.get("SECRET_KEY") or embedded_secret_key(Path(env["DSM_DATA_DIR"]))
    env.setdefault("DSM_PORT", "8000")
    env.setdefault("DSM_S3_PORT", "4566")
    env.setdefault("AWS_REGION", "ap-southeast-2")
    if not env.get("AWS_ENDPOINT_URL"):
        # The embedded S3 server accepts any credentials; these keep boto3 from looking further
        # (and a developer's own keys from being sent to it or written to the env file).
        env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{env['DSM_S3_PORT']}"
        env["AWS_ACCESS_KEY_ID"] = "embedded"
        env["AWS_SECRET_ACCESS_KEY"] = "embedded-secret"  # noqa: S105 (any key will do)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _write_env_file(env: dict[str, str], external_s3: bool) -> None:
    names = SHARED_VARIABLES + (() if external_s3 else EMBEDDED_S3_KEYS)
    header = (
        "Written by `make run` (scripts/run_embedded.py): its settings, which manage.py in\n"
        "another shell of this checkout reads (sharing_project/settings.py); variables set in\n"
        "the environment win. Rewritten at each `make run`."
    )
    try:
        write_env_file(ENV_FILE, {n: env[n] for n in names if env.get(n)}, header)
    except ValueError as error:
        raise RuntimeError(f"cannot write {ENV_FILE}: {error}") from None


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def _start_s3_server(env: dict[str, str]) -> subprocess.Popen:
    port = int(env["DSM_S3_PORT"])
    if not _port_free(port):
        raise RuntimeError(f"port {port} is taken; set DSM_S3_PORT to a free port.")
    log = open(Path(env["DSM_DATA_DIR"]) / "s3-server.log", "ab")  # noqa: SIM115 (lives on)
    server = subprocess.Popen(
        [PYTHON, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    _wait_for_http(f"{env['AWS_ENDPOINT_URL']}/moto-api/", "S3 server")
    print(f"S3 server (moto, in memory) on {env['AWS_ENDPOINT_URL']}")
    return server


def _run(command: list[str], env: dict[str, str], *, capture: bool = False) -> str:
    result = subprocess.run(command, env=env, text=True, capture_output=capture, check=False)
    if result.returncode != 0:
        detail = (result.stderr or "").strip() if capture else ""
        raise RuntimeError(f"{' '.join(command[1:3])} failed.\n{detail}")
    return result.stdout or ""


def _start(command: list[str], env: dict[str, str]) -> subprocess.Popen:
    # From the checkout, so that gunicorn imports its configuration and the project.
    return subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True)


def _wait_for_http(url: str, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (loopback only)
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"the {what} did not answer at {url} within {timeout:.0f} s.")


def _login_from(output: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


def _print_banner(web: str, env: dict[str, str], credentials: dict[str, str]) -> None:
    base = f"http://{web}"
    print(
        "\n"
        "Data Sharing Manager is running.\n"
        f"  Admin:     {base}/admin/\n"
        f"  API:       {base}/api/v1/\n"
        f"  API docs:  {base}/api/docs\n"
        f"  S3:        {env['AWS_ENDPOINT_URL']}\n"
        f"  Log in as: {credentials.get('DEMO_USER')} / {credentials.get('DEMO_PASSWORD')}\n"
        f"  CLI:       .venv/bin/python manage.py share --user {credentials.get('DEMO_USER')} ..."
        " (docs/cli.md)\n"
        "Press Ctrl-C to stop.\n",
        flush=True,
    )


def _wait(children: list[subprocess.Popen]) -> None:
    while True:
        for child in children:
            if child.poll() is not None:
                raise RuntimeError(f"{' '.join(child.args[1:3])} exited ({child.returncode}).")
        time.sleep(0.5)


def _stop(children: list[subprocess.Popen]) -> None:
    """Ask each child to stop (its main process only: the worker cluster stops its own
    processes in order, and takes far longer when they are killed under it), then make sure
    nothing of its process group is left."""
    for child in reversed(children):
        if child.poll() is None:
            child.terminate()
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)


if __name__ == "__main__":
    # Ctrl-C and SIGTERM stop everything, even when started in the background of a script,
    # whose shell leaves SIGINT ignored for what it starts (Python then keeps it ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.exit(main())
