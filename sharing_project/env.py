"""Typed readers for environment variables, used only by settings.py.

django-environ parses the values; these wrappers make a malformed value stop start-up with a
message that names the variable and says what it should look like.
"""

from __future__ import annotations

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
