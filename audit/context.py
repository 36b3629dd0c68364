"""Who is acting, for the events recorded while they act.

Three ways in, each setting a context variable:

- a request (`AuditContextMiddleware`): the request's user and how it authenticated (a login
  session or an API token), and the client's address by the rule django-axes uses
  (FORWARDED_FOR_PROXIES: behind proxies, the address they forwarded; otherwise the
  connection's). The user is read when an event is recorded, after DRF has authenticated a
  token, not when the request comes in;
- a django-q2 task (`worker_task_started`/`_ended`, connected to django-q2's signals in
  audit.apps): the worker, acting for the job's launcher;
- a management command (`act_from_command_line`, called once the command knows its user):
  the command line, until the command ends (`ActsFromCommandLine`: a command may run inside
  another process, call_command in a test or a shell); with none of the three set (a shell, a
  script), events say "command line" with no user.

django-auditlog's entries (a recipient's changes) get the same actor and address
(`fill_log_entry`), whichever way the change came.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass

from axes.helpers import get_client_ip_address
from django.http import HttpRequest
from rest_framework.authtoken.models import Token as ApiToken

from audit.models import ActorKind


@dataclass(frozen=True)
class Actor:
    kind: str  # ActorKind
    user: object | None = None  # a User
    credential: str = ""
    address: str | None = None


COMMAND_LINE = Actor(ActorKind.CLI)
WORKER = Actor(ActorKind.WORKER)

_actor: ContextVar[Callable[[], Actor] | None] = ContextVar("audit_actor", default=None)
_worker_tokens: list[Token] = []


def current_actor() -> Actor:
    source = _actor.get()
    return source() if source is not None else COMMAND_LINE


class AuditContextMiddleware:
    """Every request acts as its user, from its client's address (placed after
    AuthenticationMiddleware)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        address = client_address(request)
        token = _actor.set(lambda: request_actor(request, address))
        try:
            return self.get_response(request)
        finally:
            _actor.reset(token)


def client_address(request: HttpRequest) -> str | None:
    """The client's address, by django-axes' rule (settings.FORWARDED_FOR_PROXIES)."""
    return get_client_ip_address(request)


def request_actor(request: HttpRequest, address: str | None) -> Actor:
    """The request's user as it stands now: DRF sets `user` and `auth` on the request when it
    authenticates (a token), after the middleware has run."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return Actor(ActorKind.SESSION, None, "", address)
    auth = getattr(request, "auth", None)
    if isinstance(auth, ApiToken):
        return Actor(ActorKind.TOKEN, user, token_name(auth), address)
    return Actor(ActorKind.SESSION, user, "", address)


def token_name(token: ApiToken) -> str:
    """An API token by its user and when it was made: never by its key."""
    return f"API token of {token.user.get_username()}, created {token.created:%Y-%m-%d %H:%M:%S %Z}"


@contextmanager
def acting_as(actor: Actor | None) -> Iterator[None]:
    """Events recorded inside the block are `actor`'s (None: nobody set, the command line)."""
    token = _actor.set(None if actor is None else lambda: actor)
    try:
        yield
    finally:
        _actor.reset(token)


def act_from_command_line(user) -> None:
    """The rest of this command acts as `user`, from the command line."""
    actor = Actor(ActorKind.CLI, user)
    _actor.set(lambda: actor)


class ActsFromCommandLine:
    """A management command's mixin: who it acts as (act_from_command_line) is forgotten when
    it ends, so nothing recorded after it is put down to its user."""

    def execute(self, *args, **options):
        with acting_as(None):
            return super().execute(*args, **options)


def worker_task_started(**kwargs) -> None:
    """django-q2's pre_execute: the task acts as the worker (nested in sync mode: a stack)."""
    _worker_tokens.append(_actor.set(lambda: WORKER))


def worker_task_ended(**kwargs) -> None:
    """django-q2's post_execute_in_worker (sent after a task, whether it raised or not)."""
    if _worker_tokens:
        _actor.reset(_worker_tokens.pop())


def fill_log_entry(sender, instance, **kwargs) -> None:
    """django-auditlog's LogEntry, before it is saved: the current actor and address (in
    place of its own middleware, which would take a client's X-Forwarded-For as it comes)."""
    actor = current_actor()
    if instance.actor_id is None and actor.user is not None:
        instance.actor = actor.user
    if instance.remote_addr is None:
        instance.remote_addr = actor.address
