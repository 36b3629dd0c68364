"""The one module that talks to the ICAv2 REST API. Everything else calls these functions.

It follows ../shared/reference/icav2-api.md: the API key is exchanged once per client for a JWT
(`POST /api/tokens`), which every other call sends as `Authorization: Bearer`; bodies and
answers are `application/vnd.illumina.v3+json`, errors `application/problem+json`. A push to
`icav2://project/path/` needs three things from here: the project's id, the destination folder
(found, or created with its missing parents) and temporary AWS credentials for writing into it.

Calls are retried on 429, 5xx and dropped connections with exponential backoff and full jitter,
honouring Retry-After; a folder is created with an Idempotency-Key that its retries reuse. The
API key, the JWT and the secret keys never reach a log line or an error message.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http import HTTPStatus

import requests
from django.conf import settings

from sharing_project.errors import Icav2Error

logger = logging.getLogger(__name__)

MEDIA_TYPE = "application/vnd.illumina.v3+json"
PROBLEM_MEDIA_TYPE = "application/problem+json"
# libica's Accept header; the temporary-credentials call asks for the v3 type alone (wrapica).
ACCEPT = f"{MEDIA_TYPE}, {PROBLEM_MEDIA_TYPE}"
PAGE_SIZE = 1000  # wrapica's page size for project and data lists
MAX_ATTEMPTS = 5
BACKOFF_SECONDS = 1.0
MAX_DELAY_SECONDS = 120.0
TIMEOUT = (10, 120)  # connect, read (seconds)
JWT_RENEW_MARGIN_SECONDS = 60
# The AWS form of the credentials carries no expiry; the API documents 36 hours.
CREDENTIALS_LIFETIME = timedelta(hours=36)
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class Icav2Folder:
    project_id: str
    id: str  # fol.<32 hex>
    path: str  # "/shared/cup/"


@dataclass(frozen=True)
class Icav2Credentials:
    """Temporary AWS credentials that write into one ICAv2 folder's storage location."""

    access_key: str
    secret_key: str = field(repr=False)
    session_token: str = field(repr=False)
    bucket: str
    key_prefix: str  # always "" or ending with "/"
    region: str
    expires_at: datetime
    server_side_encryption: str | None = None
    sse_kms_key_id: str | None = None

    @property
    def s3_prefix(self) -> str:
        """`s3://bucket/prefix/`: where the folder's files go."""
        return f"s3://{self.bucket}/{self.key_prefix}"

    def key_for(self, relative_path: str) -> str:
        """The S3 key of a file at `relative_path` below the folder."""
        return self.key_prefix + relative_path.lstrip("/")

    def upload_extra_args(self) -> dict:
        """S3 upload arguments the storage asks for (its server-side encryption)."""
        extra: dict = {}
        if self.server_side_encryption:
            extra["ServerSideEncryption"] = self.server_side_encryption
        if self.sse_kms_key_id:
            extra["ServerSideEncryption"] = "aws:kms"
            extra["SSEKMSKeyId"] = self.sse_kms_key_id
        return extra


class Icav2Client:
    """A connection to one ICAv2 API with one API key; thread-safe.

    The JWT is obtained on the first call and reused until shortly before its `exp` claim,
    or until ICAv2 answers 401 (a JWT made from an API key cannot be refreshed, so a new
    one is requested).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        max_attempts: int = MAX_ATTEMPTS,
        backoff_seconds: float = BACKOFF_SECONDS,
    ):
        self.base_url = base_url.rstrip("/")
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self._api_key = api_key
        self._session = requests.Session()
        self._lock = threading.Lock()
        self._jwt: str | None = None
        self._jwt_expires_at: float | None = None

    def __repr__(self) -> str:
        return f"Icav2Client({self.base_url!r})"

    def close(self) -> None:
        self._session.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict | None = None,
        body: dict | None = None,
        idempotency_key: str | None = None,
        accept: str = ACCEPT,
        expected: int = 200,
    ) -> dict:
        """One authenticated call; its JSON answer, or Icav2Error for any other status."""
        renewed = False
        while True:
            jwt = self._current_jwt()
            headers = {"Authorization": f"Bearer {jwt}", "Accept": accept}
            if idempotency_key:
                headers["Idempotency-Key"] = idempotency_key
            response = self._send(method, path, headers, params=params, body=body)
            if response.status_code == 401 and not renewed:
                self._forget_jwt(jwt)  # expired or revoked: one new JWT, one more try
                renewed = True
                continue
            break
        if response.status_code != expected:
            raise _error(response, method, path)
        return _json(response, method, path) if response.content else {}

    def _current_jwt(self) -> str:
        with self._lock:
            expiring = self._jwt_expires_at is not None and (
                time.time() >= self._jwt_expires_at - JWT_RENEW_MARGIN_SECONDS
            )
            if self._jwt is None or expiring:
                self._jwt, self._jwt_expires_at = self._new_jwt()
            return self._jwt

    def _new_jwt(self) -> tuple[str, float | None]:
        headers = {"X-API-Key": self._api_key, "Accept": ACCEPT}
        response = self._send("POST", "/api/tokens", headers)
        if response.status_code != 200:
            raise _error(response, "POST", "/api/tokens")
        token = _json(response, "POST", "/api/tokens").get("token")
        if not isinstance(token, str) or not token:
            raise Icav2Error(
                "ICAv2 answered POST /api/tokens without a token; check ICAV2_BASE_URL "
                f"({self.base_url}) points to the ICAv2 REST API.",
                {"endpoint": "POST /api/tokens"},
            )
        return token, _jwt_expiry(token)

    def _forget_jwt(self, jwt: str) -> None:
        with self._lock:
            if self._jwt == jwt:
                self._jwt = None

    def _send(
        self, method: str, path: str, headers: dict, *, params: dict | None = None, body=None
    ) -> requests.Response:
        """Send, retrying 429, 5xx and dropped connections; the last answer."""
        data = None
        if body is not None:
            headers = {**headers, "Content-Type": MEDIA_TYPE}
            data = json.dumps(body)
        url = self.base_url + path
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self._session.request(
                    method, url, params=params, data=data, headers=headers, timeout=TIMEOUT
                )
            except (requests.ConnectionError, requests.Timeout) as error:
                if attempt == self.max_attempts:
                    raise Icav2Error(
                        f"Could not reach ICAv2 for {method} {path} after {attempt} attempts "
                        f"({type(error).__name__}); check ICAV2_BASE_URL ({self.base_url}) "
                        "and the network.",
                        {"endpoint": f"{method} {path}"},
                    ) from error
                delay = self._delay(attempt, None)
                logger.info("ICAv2 %s %s: %s; retrying in %.1f s", method, path, error, delay)
            else:
                logger.debug("ICAv2 %s %s -> %s", method, path, response.status_code)
                if response.status_code not in RETRIED_STATUSES or attempt == self.max_attempts:
                    return response
                delay = self._delay(attempt, response.headers.get("Retry-After"))
                logger.info(
                    "ICAv2 answered %s to %s %s; retrying in %.1f s",
                    response.status_code,
                    method,
                    path,
                    delay,
                )
            time.sleep(delay)
        raise AssertionError("unreachable")  # the loop returns or raises on its last attempt

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        """Retry-After when ICAv2 gives it, else exponential backoff with full jitter."""
        if retry_after is not None:
            seconds = _retry_after_seconds(retry_after)
            if seconds is not None:
                return min(seconds, MAX_DELAY_SECONDS)
        return random.uniform(0, min(MAX_DELAY_SECONDS, self.backoff_seconds * 2 ** (attempt - 1)))


_CLIENTS: dict[tuple[str, str], Icav2Client] = {}
_CLIENTS_LOCK = threading.Lock()


def client() -> Icav2Client:
    """The shared client for ICAV2_BASE_URL and ICAV2_API_KEY (one JWT per process)."""
    if not settings.ICAV2_API_KEY:
        raise Icav2Error(
            "ICAv2 is not configured: set ICAV2_API_KEY to an ICAv2 API key of a user who can "
            "write to the destination project (and ICAV2_BASE_URL if not "
            "https://ica.illumina.com/ica/rest)."
        )
    key = (settings.ICAV2_BASE_URL, settings.ICAV2_API_KEY)
    with _CLIENTS_LOCK:
        if key not in _CLIENTS:
            _CLIENTS[key] = Icav2Client(*key)
        return _CLIENTS[key]


def close_clients() -> None:
    """Close and forget the shared clients (a new JWT is requested when next needed)."""
    with _CLIENTS_LOCK:
        clients = list(_CLIENTS.values())
        _CLIENTS.clear()
    for api in clients:
        api.close()


def resolve_project_id(project: str) -> str:
    """A project id: a UUID as is, a name by paging the project list for an exact match."""
    if _UUID.match(project):
        return project
    api = client()
    matches: list[str] = []
    offset = 0
    while True:
        page = api.call(
            "GET",
            "/api/projects",
            params={
                "pageSize": str(PAGE_SIZE),
                "pageOffset": str(offset),
                "includeHiddenProjects": "false",
            },
        )
        items = page.get("items") or []
        matches += [item["id"] for item in items if item.get("name") == project]
        offset += PAGE_SIZE
        total = page.get("totalItemCount")
        last_page = offset >= int(total) if total is not None else len(items) < PAGE_SIZE
        if last_page:
            break
    if not matches:
        raise Icav2Error(
            f"ICAv2 has no project named {project!r} that the ICAV2_API_KEY user can see; "
            "check the name (it must match exactly) or give the project id.",
            {"project": project},
        )
    if len(matches) > 1:
        raise Icav2Error(
            f"ICAv2 has {len(matches)} projects named {project!r} ({', '.join(matches)}); "
            "give the project id instead of its name.",
            {"project": project, "projectIds": matches},
        )
    return matches[0]


def normalise_folder_path(path: str) -> str:
    """An ICAv2 folder path: `/a/b/` from `a/b`, `/a/b` or `/a/b/`; `/` for the root."""
    segments = [segment for segment in path.split("/") if segment]
    if any(segment in (".", "..") for segment in segments):
        raise Icav2Error(f"The ICAv2 folder {path!r} has a '.' or '..' segment.")
    return "/" + "".join(f"{segment}/" for segment in segments)


def find_folder(project: str, path: str) -> Icav2Folder | None:
    """The folder at exactly this path (case-sensitive), or None."""
    return _find_folder(client(), resolve_project_id(project), normalise_folder_path(path))


def ensure_folder(project: str, path: str) -> Icav2Folder:
    """Find the folder, or create it; ICAv2 creates its missing parents with it."""
    return _ensure_folder(client(), resolve_project_id(project), normalise_folder_path(path))


def folder_upload_credentials(project: str, folder_path: str) -> Icav2Credentials:
    """Temporary AWS credentials for writing into the folder, which is created if missing.

    Steps: resolve the project; find or create the folder; ask for the folder's credentials.
    """
    api = client()
    folder = _ensure_folder(api, resolve_project_id(project), normalise_folder_path(folder_path))
    return _temporary_credentials(api, folder)


def _find_folder(api: Icav2Client, project_id: str, path: str) -> Icav2Folder | None:
    """wrapica's exact lookup: the parent's direct children with that name, then an exact,
    case-sensitive comparison of `details.path` (the API's own match ignores case)."""
    parent, name = _split(path)
    params = {
        "parentFolderPath": parent,
        "filename": [name],
        "filenameMatchMode": "EXACT",
        "filePathMatchMode": "FULL_CASE_INSENSITIVE",
        "type": "FOLDER",
        "pageSize": str(PAGE_SIZE),
    }
    endpoint = f"/api/projects/{project_id}/data"
    while True:
        page = api.call("GET", endpoint, params=params)
        for item in page.get("items") or []:
            data = item.get("data") or {}
            details = data.get("details") or {}
            if details.get("dataType") == "FOLDER" and details.get("path") == path:
                return Icav2Folder(project_id, data["id"], path)
        token = page.get("nextPageToken")
        if not token:
            return None
        params = {**params, "pageToken": token}


def _ensure_folder(api: Icav2Client, project_id: str, path: str) -> Icav2Folder:
    if path == "/":
        raise Icav2Error(
            "ICAv2 gives upload credentials for a folder, not a project's root: push to "
            "icav2://<project>/<folder>/."
        )
    found = _find_folder(api, project_id, path)
    if found is not None:
        return found
    parent, name = _split(path)
    try:
        answer = api.call(
            "POST",
            f"/api/projects/{project_id}/data:createFolder",
            body={"name": name, "folderPath": parent},
            idempotency_key=str(uuid.uuid4()),  # the same key on every retry of this call
            expected=201,
        )
    except Icav2Error as error:
        if error.status != 409:
            raise
        # Created meanwhile (another worker): ICAv2's answer to an existing folder.
        found = _find_folder(api, project_id, path)
        if found is None:
            raise
        return found
    logger.info("Created ICAv2 folder %s in project %s", path, project_id)
    return Icav2Folder(project_id, answer["data"]["id"], path)


def _temporary_credentials(api: Icav2Client, folder: Icav2Folder) -> Icav2Credentials:
    asked_at = datetime.now(UTC)  # ICAv2 issues them after this: a safe start for the 36 h
    endpoint = f"/api/projects/{folder.project_id}/data/{folder.id}:createTemporaryCredentials"
    answer = api.call("POST", endpoint, body={}, accept=MEDIA_TYPE)
    aws = answer.get("awsTempCredentials") or {}
    required = ("accessKey", "secretKey", "sessionToken", "region", "bucket", "objectPrefix")
    missing = [name for name in required if not isinstance(aws.get(name), str)]
    if missing:
        raise Icav2Error(
            f"ICAv2 answered POST {endpoint} without {', '.join(missing)} in "
            "awsTempCredentials; cannot write into the folder.",
            {"endpoint": f"POST {endpoint}", "missing": missing},
        )
    prefix = aws["objectPrefix"].lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    algorithm = aws.get("serverSideEncryptionAlgorithm") or None
    return Icav2Credentials(
        access_key=aws["accessKey"],
        secret_key=aws["secretKey"],
        session_token=aws["sessionToken"],
        bucket=aws["bucket"],
        key_prefix=prefix,
        region=aws["region"],
        expires_at=asked_at + CREDENTIALS_LIFETIME,
        # S3 spells the KMS value "aws:kms"; ICAv2's documentation writes "AWS:KMS".
        server_side_encryption=algorithm.lower() if algorithm == "AWS:KMS" else algorithm,
        sse_kms_key_id=aws.get("serverSideEncryptionKey") or None,
    )


def _split(path: str) -> tuple[str, str]:
    """("/a/", "b") for "/a/b/"."""
    parent, _, name = path.rstrip("/").rpartition("/")
    return parent + "/", name


def _jwt_expiry(token: str) -> float | None:
    """The JWT's `exp` claim (read without checking the signature), or None."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, KeyError, TypeError, ValueError):
        return None


def _retry_after_seconds(value: str) -> float | None:
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _json(response: requests.Response, method: str, path: str) -> dict:
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise Icav2Error(
            f"ICAv2 answered {method} {path} with {response.status_code} but no JSON object; "
            "check ICAV2_BASE_URL points to the ICAv2 REST API (…/ica/rest).",
            {"endpoint": f"{method} {path}", "status": response.status_code},
            status=response.status_code,
        )
    return answer


_ADVICE = {
    401: "Check ICAV2_API_KEY: ICAv2 did not accept the API key (or the JWT made from it).",
    403: "Check ICAV2_API_KEY: its user may not do this; it needs write access to the project.",
    404: "Check that the project and the folder exist and that the ICAV2_API_KEY user is a "
    "member of the project.",
}


def _error(response: requests.Response, method: str, path: str) -> Icav2Error:
    status = response.status_code
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        problem = None
    detail = (problem or {}).get("detail") or (problem or {}).get("title")
    if not detail:
        detail = response.text.strip()[:200] or response.reason or "no detail"
    detail = str(detail)
    advice = _ADVICE.get(status)
    if advice is None and status in RETRIED_STATUSES:
        advice = "ICAv2 is rate-limiting or failing; the call was retried with backoff. Try later."
    try:
        reason = response.reason or HTTPStatus(status).phrase
    except ValueError:  # a status Python has no name for
        reason = ""
    message = f"ICAv2 answered {status} {reason}".rstrip()
    message += f" to {method} {path}: {detail.rstrip('.')}."
    if advice:
        message += f" {advice}"
    details = {"status": status, "endpoint": f"{method} {path}", "problem": problem}
    return Icav2Error(message, details, status=status)
