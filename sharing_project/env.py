"""Reading the environment: typed readers for settings.py, and the embedded mode's secret key
and env file, which scripts/run_embedded.py uses too.

django-environ parses the values; these wrappers make a malformed value stop start-up with a
message that names the variable and says what it should look like.

The env file is how `make run` hands its settings to the commands typed in another shell of the
checkout: scripts/run_embedded.py writes it with `write_env_file`, settings.py reads it with
`read_env_file` (django-environ's `read_env`: variables already in the environment win).
"""

from __future__ import annotations

import os
import re
import secrets
from decimal import Decimal, InvalidOperation
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

_env = environ.Env()
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def raw(name: str) -> str | None:
    """The variable's value, or None when unset or empty."""
    value = _env.str(name, default="")
    return value if value != "" else None


def read_str(name: str, default: str) -> str:
    return raw(name) or default


def read_bool(name: str, default: bool) -> bool:
    value = raw(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name} must be true or false (1/0, yes/no, on/off), got {value!r}."
    )


def read_int(name: str, default: int, *, minimum: int, maximum: int) -> int:
    value = raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {value!r}.") from None
    if not minimum <= number <= maximum:
        raise ImproperlyConfigured(f"{name} must be between {minimum} and {maximum}, got {number}.")
    return number


def read_decimal(name: str, default: str, *, minimum: str, maximum: str, places: int) -> Decimal:
    """A decimal number such as a price ("0.09") with at most `places` decimals: exact, never
    a float."""
    value = raw(name)
    text = (value if value is not None else default).strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite() or number.as_tuple().exponent < -places:
        raise ImproperlyConfigured(
            f"{name} must be a decimal number with at most {places} decimals, such as 0.09; "
            f"got {text!r}."
        )
    if not Decimal(minimum) <= number <= Decimal(maximum):
        raise ImproperlyConfigured(f"{name} must be between {minimum} and {maximum}, got {text!r}.")
    return number


_RATE = re.compile(r"^([1-9]\d*)/(s|sec|second|m|min|minute|h|hour|d|day)$")


def read_rate(name: str, default: str) -> str | None:
    """A request rate as DRF's throttles read it ("600/minute"), or None for "off"."""
    value = (raw(name) or default).strip().lower()
    if value in _FALSE or value == "none":
        return None
    if not _RATE.match(value):
        raise ImproperlyConfigured(
            f"{name} must be a number of requests per second, minute, hour or day, such as "
            f"600/minute, or off; got {value!r}."
        )
    return value


def read_list(name: str, default: list[str]) -> list[str]:
    value = raw(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def read_database(name: str, default: str) -> dict:
    value = raw(name) or default
    try:
        config = environ.Env.db_url_config(value)
    except Exception as error:  # django-environ raises several types for a bad URL
        raise ImproperlyConfigured(
            f"{name} is not a database URL ({error}); use e.g. "
            "postgres://user@host:5432/dbname or sqlite:////absolute/path/db.sqlite3."
        ) from None
    engine = config.get("ENGINE", "")
    if not engine.endswith(("sqlite3", "postgresql")):
        raise ImproperlyConfigured(
            f"{name} must point to PostgreSQL (postgres://...) or SQLite (sqlite:///...), "
            f"got the scheme of {value.split(':', 1)[0]!r}."
        )
    return config


def read_url(name: str) -> str | None:
    value = raw(name)
    if value is None:
        return None
    if not value.startswith(("http://", "https://")) or "://" not in value[:8] or len(value) < 10:
        raise ImproperlyConfigured(f"{name} must be an http:// or https:// URL, got {value!r}.")
    return value.rstrip("/")


_EMAIL_PORTS = {"smtp+ssl": 465, "smtp+tls": 587, "smtps": 587}


def read_email(url_name: str = "EMAIL_URL") -> dict | None:
    """Django's EMAIL_* settings from `EMAIL_URL` (smtp://user:password@host:25,
    smtp+tls://...:587 for STARTTLS, smtp+ssl://...:465, consolemail://, filemail:///path), or
    else from EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_USE_TLS and
    EMAIL_USE_SSL; None when neither is set. The values hold a password: no message repeats
    them."""
    value = raw(url_name)
    if value is not None:
        scheme = value.split("://", 1)[0].lower() if "://" in value else ""
        if scheme not in environ.Env.EMAIL_SCHEMES:
            raise ImproperlyConfigured(
                f"{url_name} must be an email URL such as smtp+tls://user:password@host:587 "
                f"(schemes: {', '.join(environ.Env.EMAIL_SCHEMES)}); got the scheme {scheme!r}."
            )
        try:
            parsed = environ.Env.email_url_config(value)
        except Exception:  # a bad port, for one: its message would echo the password
            raise ImproperlyConfigured(
                f"{url_name} is not a valid email URL (its value is not repeated here: it may "
                "hold a password). Percent-encode special characters in the user and password."
            ) from None
        config = {
            "EMAIL_BACKEND": parsed["EMAIL_BACKEND"],
            "EMAIL_HOST": parsed.get("EMAIL_HOST") or "localhost",
            "EMAIL_PORT": parsed.get("EMAIL_PORT") or _EMAIL_PORTS.get(scheme, 25),
            "EMAIL_HOST_USER": parsed.get("EMAIL_HOST_USER") or "",
            "EMAIL_HOST_PASSWORD": parsed.get("EMAIL_HOST_PASSWORD") or "",
            "EMAIL_USE_TLS": _flag(parsed.get("EMAIL_USE_TLS")),
            "EMAIL_USE_SSL": _flag(parsed.get("EMAIL_USE_SSL")),
            "EMAIL_FILE_PATH": parsed.get("EMAIL_FILE_PATH") or "",
        }
        if scheme.startswith("smtp") and not parsed.get("EMAIL_HOST"):
            raise ImproperlyConfigured(f"{url_name} names no mail server (host).")
    elif raw("EMAIL_HOST") is not None:
        config = {
            "EMAIL_BACKEND": environ.Env.EMAIL_SCHEMES["smtp"],
            "EMAIL_HOST": raw("EMAIL_HOST"),
            "EMAIL_PORT": read_int("EMAIL_PORT", 25, minimum=1, maximum=65535),
            "EMAIL_HOST_USER": raw("EMAIL_HOST_USER") or "",
            "EMAIL_HOST_PASSWORD": raw("EMAIL_HOST_PASSWORD") or "",
            "EMAIL_USE_TLS": read_bool("EMAIL_USE_TLS", False),
            "EMAIL_USE_SSL": read_bool("EMAIL_USE_SSL", False),
            "EMAIL_FILE_PATH": "",
        }
    else:
        return None
    if config["EMAIL_USE_TLS"] and config["EMAIL_USE_SSL"]:
        raise ImproperlyConfigured(
            "EMAIL_USE_TLS (STARTTLS, usually port 587) and EMAIL_USE_SSL (TLS from the start, "
            "usually port 465) exclude each other: set one."
        )
    return config


def _flag(value) -> bool:
    """A flag of an email URL: set by its scheme (True) or by ?email_use_tls=... (text)."""
    return str(value).strip().lower() in _TRUE if isinstance(value, str) else bool(value)


def embedded_secret_key(data_dir: Path) -> str:
    """The embedded run keeps one generated key in the data folder, so sessions survive restarts."""
    key_file = data_dir / "secret_key"
    if not key_file.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def read_env_file(path: Path) -> None:
    """Add the file's variables to the environment where they are not set; no file, no change."""
    if path.is_file():
        environ.Env.read_env(path)


def write_env_file(path: Path, variables: dict[str, str], header: str) -> None:
    """Write `NAME='value'` lines that `read_env_file` reads back verbatim (django-environ takes
    a single-quoted value as it is), readable by the owner only, replacing the file at once."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    for name, value in variables.items():
        if "\n" in value or "\r" in value:
            raise ValueError(f"{name} contains a line break; an env file cannot hold it.")
        lines.append(f"{name}='{value}'")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write("\n".join(lines) + "\n")
    partial.replace(path)
