"""A small ICAv2-compatible REST server on loopback, for the ICAv2 client's tests.

It implements the part of the API that sharing_project/icav2.py uses, as
../shared/reference/icav2-api.md documents it: `POST /api/tokens` (X-API-Key in, a JWT with an
`exp` claim out), `GET /api/projects` (offset and cursor paging), `GET /api/projects/{id}`,
`GET /api/projects/{id}/data` (filePath, filePathMatchMode, filename, filenameMatchMode,
parentFolderPath, parentFolderId, type, status, paging), `GET /api/projects/{id}/data/{dataId}`,
`POST /api/projects/{id}/data:createFolder` (201, missing parents created, Idempotency-Key
replayed or refused with 422) and `POST /api/projects/{id}/data/{dataId}:createTemporaryCredentials`
(200, cloud-native AWS credentials).

Every call but the token call takes `Authorization: Bearer <jwt>` or `X-API-Key`. Answers are
`application/vnd.illumina.v3+json`; errors are `application/problem+json` Problem bodies. A
request whose Accept lacks the v3 type gets 406, a body of another type 415.

Where the reference says the real behaviour is undocumented, this server chooses and says so:
creating a folder that exists answers 409; `filenameMatchMode` defaults to EXACT; only folders
are stored (a FILE query finds nothing); RCLONE credentials are refused with 400.

The "temporary credentials" are real for the loopback S3 server (moto's, which accepts any
access key): bucket `icav2-project-data`, created on first use, and key prefix
`<projectId>/<folder path>`, e.g. `0d1c.../shared/cup/`. moto does not enforce that the
credentials write only under that prefix.

Tests read what it received (`received`, `calls`), what it stores (`projects`, `folder_paths`)
and the credentials it handed out (`issued`); `fail` makes chosen calls answer an error (before
or after doing their work), `before_next` stages a race, `revoke_tokens` expires every JWT.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.serving import serve, shut_down

BASE_PATH = "/ica/rest"
MEDIA_TYPE = "application/vnd.illumina.v3+json"
PROBLEM_MEDIA_TYPE = "application/problem+json"
BODY_MEDIA_TYPES = (MEDIA_TYPE, "application/json")
DEFAULT_PAGE_SIZE = 1000
TENANT_ID = "7c1f4b9e-tenant-0000-0000-000000000001"
PATH_MATCH_MODES = ("STARTS_WITH_CASE_INSENSITIVE", "FULL_CASE_INSENSITIVE")
NAME_MATCH_MODES = ("EXACT", "EXCLUDE", "FUZZY")
DATA_TYPES = ("FILE", "FOLDER")
STATUSES = ("PARTIAL", "AVAILABLE", "ARCHIVING", "ARCHIVED", "UNARCHIVING", "DELETING")

_PROJECT = r"/api/projects/(?P<project>[^/:]+)"
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("GET", re.compile(r"^/api/projects$"), "list_projects"),
    ("GET", re.compile(rf"^{_PROJECT}$"), "get_project"),
    ("GET", re.compile(rf"^{_PROJECT}/data$"), "list_data"),
    ("POST", re.compile(rf"^{_PROJECT}/data:createFolder$"), "create_folder"),
    ("GET", re.compile(rf"^{_PROJECT}/data/(?P<data>[^/:]+)$"), "get_data"),
    (
        "POST",
        re.compile(rf"^{_PROJECT}/data/(?P<data>[^/:]+):createTemporaryCredentials$"),
        "create_temporary_credentials",
    ),
]


@dataclass
class Received:
    """One request as the server saw it (path below /ica/rest, without the query)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: object
    status: int = 0

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Fault:
    method: str
    path_suffix: str
    status: int
    times: int = 1
    retry_after: str | None = None
    after_handling: bool = False  # do the work, then answer the error (a lost answer)


@dataclass
class Folder:
    id: str
    project_id: str
    path: str  # "/shared/cup/"
    created: str


@dataclass
class Answer:
    status: int
    body: dict | None
    headers: dict[str, str] = field(default_factory=dict)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def problem(status: int, title: str, detail: str, instance: str = "", **parameters) -> Answer:
    """An RFC 7807 Problem with ICAv2's required extras (timestamp, parameters)."""
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "timestamp": _now(),
        "parameters": parameters,
        "id": str(uuid.uuid4()),
    }
    return Answer(status, body)


class BadRequest(Exception):
    def __init__(self, answer: Answer):
        super().__init__(answer.body["detail"] if answer.body else "")
        self.answer = answer


class Icav2Server:
    api_key = "ica-test-api-key-0123456789"
    user_id = "5d0e8c9a-user-0000-0000-000000000001"

    def __init__(
        self,
        s3_endpoint: str,
        *,
        region: str,
        bucket: str = "icav2-project-data",
        jwt_lifetime_seconds: int = 3600,
    ):
        self.s3_endpoint = s3_endpoint
        self.region = region
        self.region_id = str(uuid.uuid5(uuid.NAMESPACE_DNS, region))
        self.bucket = bucket
        self.jwt_lifetime_seconds = jwt_lifetime_seconds
        self.projects: dict[str, dict] = {}
        self.folders: dict[str, Folder] = {}
        self.tokens: dict[str, float] = {}  # JWT -> exp
        self.received: list[Received] = []
        self.issued: list[dict] = []
        self.faults: list[Fault] = []
        self._hooks: list[tuple[str, str, Callable[[], object]]] = []
        self._idempotent: dict[tuple[str, str, str], tuple[object, Answer]] = {}
        self._lock = threading.RLock()
        self._bucket_ready = False
        self._server: ThreadingHTTPServer | None = None

    # --- what tests set up and read ----------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{BASE_PATH}"

    def add_project(self, name: str, *, project_id: str | None = None, hidden: bool = False) -> str:
        project_id = project_id or str(uuid.uuid4())
        now = _now()
        self.projects[project_id] = {
            "id": project_id,
            "name": name,
            "active": True,
            "billingMode": "PROJECT",
            "ownerId": self.user_id,
            "region": {"id": self.region_id, "code": self.region, "cityName": "Test"},
            "tags": {"technicalTags": [], "userTags": [], "connectorTags": []},
            "tenantId": TENANT_ID,
            "timeCreated": now,
            "timeModified": now,
            "_hidden": hidden,
        }
        return project_id

    def add_folder(self, project_id: str, path: str) -> str:
        """A folder made behind the client's back (another worker, a person in the UI)."""
        with self._lock:
            return self._new_folder(project_id, path).id

    def folder_paths(self, project_id: str) -> list[str]:
        return sorted(f.path for f in self.folders.values() if f.project_id == project_id)

    def calls(self, method: str, path_suffix: str) -> list[Received]:
        return [r for r in self.received if r.method == method and r.path.endswith(path_suffix)]

    def fail(
        self,
        method: str,
        path_suffix: str,
        status: int,
        *,
        times: int = 1,
        retry_after: str | None = None,
        after_handling: bool = False,
    ) -> None:
        """Make the next `times` matching calls answer `status` (with Retry-After if given)."""
        self.faults.append(Fault(method, path_suffix, status, times, retry_after, after_handling))

    def before_next(self, method: str, path_suffix: str, action: Callable[[], object]) -> None:
        """Run `action` just before the next matching call is handled (a race, staged)."""
        self._hooks.append((method, path_suffix, action))

    def revoke_tokens(self) -> None:
        """Every JWT handed out so far stops working, as an expired one would."""
        with self._lock:
            self.tokens.clear()

    def start(self) -> Icav2Server:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                """Quiet: the tests read what the server recorded, not its log."""

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PUT(self) -> None:
                self._handle("PUT")

            def do_DELETE(self) -> None:
                self._handle("DELETE")

            def _handle(self, method: str) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                request = Received(
                    method,
                    unquote(split.path).removeprefix(BASE_PATH),
                    parse_qs(split.query, keep_blank_values=True),
                    {name.lower(): value for name, value in self.headers.items()},
                    None,
                )
                answer = owner._dispatch(request, raw, unquote(split.path))
                request.status = answer.status
                payload = json.dumps(answer.body).encode() if answer.body is not None else b""
                self.send_response(answer.status)
                if payload:
                    media = MEDIA_TYPE if answer.status < 400 else PROBLEM_MEDIA_TYPE
                    self.send_header("Content-Type", media)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = serve(Handler)
        return self

    def stop(self) -> None:
        shut_down(self._server)

    # --- request handling --------------------------------------------------------------------
    def _dispatch(self, request: Received, raw: bytes, full_path: str) -> Answer:
        with self._lock:
            self.received.append(request)
            if not full_path.startswith(BASE_PATH + "/"):
                return problem(404, "Not Found", f"No such endpoint: {full_path}", full_path)
            for hook in self._hooks:
                if hook[0] == request.method and request.path.endswith(hook[1]):
                    self._hooks.remove(hook)
                    hook[2]()
                    break
            fault = self._take_fault(request)
            if fault is not None and not fault.after_handling:
                return self._fault_answer(fault, request)
            try:
                answer = self._handle(request, raw)
            except BadRequest as error:
                answer = error.answer
            if fault is not None:
                return self._fault_answer(fault, request)
            return answer

    def _take_fault(self, request: Received) -> Fault | None:
        for fault in self.faults:
            if fault.method == request.method and request.path.endswith(fault.path_suffix):
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def _fault_answer(self, fault: Fault, request: Received) -> Answer:
        titles = {429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway"}
        title = titles.get(fault.status, "Service Unavailable")
        answer = problem(fault.status, title, f"Injected {fault.status} answer.", request.path)
        if fault.retry_after is not None:
            answer.headers["Retry-After"] = fault.retry_after
        return answer

    def _handle(self, request: Received, raw: bytes) -> Answer:
        if MEDIA_TYPE not in (request.header("Accept") or ""):
            return problem(
                406, "Not Acceptable", f"Accept must include {MEDIA_TYPE}.", request.path
            )
        if raw:
            content_type = (request.header("Content-Type") or "").split(";")[0].strip()
            if content_type not in BODY_MEDIA_TYPES:
                return problem(
                    415,
                    "Unsupported Media Type",
                    f"Send the body as {MEDIA_TYPE} or application/json, not {content_type!r}.",
                    request.path,
                )
            try:
                request.body = json.loads(raw)
            except ValueError:
                return problem(400, "Bad Request", "The body is not JSON.", request.path)
        if request.path == "/api/tokens":
            if request.method != "POST":
                return problem(405, "Method Not Allowed", "Use POST.", request.path)
            return self._create_token(request)
        user = self._authenticate(request)
        if user is None:
            return problem(
                401,
                "Unauthorized",
                "Authenticate with a valid JWT (Authorization: Bearer) or X-API-Key.",
                request.path,
            )
        known_path = False
        for method, pattern, name in _ROUTES:
            match = pattern.match(request.path)
            if match is None:
                continue
            known_path = True
            if method == request.method:
                return getattr(self, name)(request, user, **match.groupdict())
        if known_path:
            return problem(405, "Method Not Allowed", "Wrong method.", request.path)
        return problem(404, "Not Found", f"No such endpoint: {request.path}", request.path)

    def _create_token(self, request: Received) -> Answer:
        if request.header("X-API-Key") != self.api_key:
            return problem(401, "Unauthorized", "Invalid API key.", request.path)
        now = int(time.time())
        claims = {
            "sub": self.user_id,
            "aud": "ica",
            "iss": "icav2-test-server",
            "iat": now,
            "exp": now + self.jwt_lifetime_seconds,
            "tid": TENANT_ID,
        }
        header = {"alg": "RS256", "typ": "JWT"}
        token = ".".join(
            [
                _b64(json.dumps(header).encode()),
                _b64(json.dumps(claims).encode()),
                _b64(secrets.token_bytes(32)),
            ]
        )
        self.tokens[token] = claims["exp"]
        return Answer(200, {"token": token})

    def _authenticate(self, request: Received) -> str | None:
        authorization = request.header("Authorization") or ""
        if authorization.startswith("Bearer "):
            expires = self.tokens.get(authorization.removeprefix("Bearer "))
            return self.user_id if expires is not None and time.time() < expires else None
        if request.header("X-API-Key") == self.api_key:
            return self.user_id
        return None

    # --- endpoints ---------------------------------------------------------------------------
    def list_projects(self, request: Received, user: str) -> Answer:
        hidden = _one(request, "includeHiddenProjects", "false").lower()
        if hidden not in ("true", "false"):
            raise BadRequest(problem(400, "Bad Request", "includeHiddenProjects: true or false."))
        projects = [
            _public(p) for p in self.projects.values() if hidden == "true" or not p["_hidden"]
        ]
        return Answer(200, _page(request, projects))

    def get_project(self, request: Received, user: str, project: str) -> Answer:
        return Answer(200, _public(self._project(request, project)))

    def list_data(self, request: Received, user: str, project: str) -> Answer:
        self._project(request, project)
        folders = sorted(
            (f for f in self.folders.values() if f.project_id == project), key=lambda f: f.path
        )
        folders = [f for f in folders if self._matches(request, project, f)]
        return Answer(200, _page(request, [self._project_data(f) for f in folders]))

    def get_data(self, request: Received, user: str, project: str, data: str) -> Answer:
        self._project(request, project)
        return Answer(200, self._project_data(self._folder(request, project, data)))

    def create_folder(self, request: Received, user: str, project: str) -> Answer:
        """Idempotency-Key: a repeat with the same body replays the stored success, another body
        gets 422; errors are not stored."""
        self._project(request, project)
        key = request.header("Idempotency-Key")
        if key is not None:
            if not 0 < len(key) <= 255:
                raise BadRequest(problem(400, "Bad Request", "Idempotency-Key: 1 to 255 chars."))
            stored = self._idempotent.get((request.path, key, user))
            if stored is not None:
                body, answer = stored
                if body != request.body:
                    return problem(
                        422,
                        "Unprocessable Entity",
                        "This Idempotency-Key was used with a different body.",
                        request.path,
                    )
                return answer
        answer = self._create_folder(request, project)
        if key is not None and answer.status < 400:
            self._idempotent[(request.path, key, user)] = (request.body, answer)
        return answer

    def _create_folder(self, request: Received, project: str) -> Answer:
        body = request.body if isinstance(request.body, dict) else {}
        name = body.get("name")
        if not isinstance(name, str) or not name or "/" in name or len(name) > 255:
            raise BadRequest(
                problem(400, "Bad Request", "name: 1 to 255 characters, no '/'.", name=name)
            )
        if ("folderPath" in body) == ("folderId" in body):
            raise BadRequest(problem(400, "Bad Request", "Give either folderPath or folderId."))
        if "folderId" in body:
            parent = self._folder(request, project, str(body["folderId"])).path
        else:
            parent = body["folderPath"]
            if not isinstance(parent, str) or not parent.startswith("/") or parent[-1] != "/":
                raise BadRequest(
                    problem(
                        400,
                        "Bad Request",
                        "folderPath must be absolute and end with '/'.",
                        folderPath=parent,
                    )
                )
        # Any part of folderPath that does not exist yet is created (the spec's words).
        segments = [s for s in parent.split("/") if s]
        for depth in range(1, len(segments) + 1):
            path = "/" + "".join(f"{s}/" for s in segments[:depth])
            if self._folder_at(project, path) is None:
                self._new_folder(project, path)
        path = f"{parent}{name}/"
        if self._folder_at(project, path) is not None:
            return problem(
                409, "Conflict", f"A folder {path} already exists in the project.", request.path
            )
        return Answer(201, self._project_data(self._new_folder(project, path)))

    def create_temporary_credentials(
        self, request: Received, user: str, project: str, data: str
    ) -> Answer:
        self._project(request, project)
        folder = self._folder(request, project, data)
        body = request.body if request.body is not None else {}
        if not isinstance(body, dict):
            raise BadRequest(problem(400, "Bad Request", "The body must be a JSON object."))
        if "credentialsFormat" in body:
            detail = (
                "This test server hands out cloud-native AWS credentials only."
                if body["credentialsFormat"] == "RCLONE"
                else "credentialsFormat: only RCLONE is allowed."
            )
            raise BadRequest(problem(400, "Bad Request", detail))
        read_only = body.get("readOnlyCredentials", False)
        if not isinstance(read_only, bool):
            raise BadRequest(problem(400, "Bad Request", "readOnlyCredentials must be a boolean."))
        self._ensure_bucket()
        credentials = {
            "accessKey": "ASIA" + secrets.token_hex(8).upper(),
            "secretKey": secrets.token_urlsafe(30),
            "sessionToken": secrets.token_urlsafe(90),
            "region": self.region,
            "bucket": self.bucket,
            "objectPrefix": f"{project}{folder.path}",
            "serverSideEncryptionAlgorithm": "AES256",
            "serverSideEncryptionKey": None,
        }
        self.issued.append({**credentials, "folderId": folder.id, "readOnly": read_only})
        return Answer(200, {"awsTempCredentials": credentials, "rcloneTempCredentials": None})

    # --- store -------------------------------------------------------------------------------
    def _project(self, request: Received, project_id: str) -> dict:
        project = self.projects.get(project_id)
        if project is None:
            raise BadRequest(
                problem(404, "Not Found", f"Project {project_id} not found.", request.path)
            )
        return project

    def _folder(self, request: Received, project_id: str, data_id: str) -> Folder:
        folder = self.folders.get(data_id)
        if folder is None or folder.project_id != project_id:
            raise BadRequest(
                problem(
                    404,
                    "Not Found",
                    f"Data {data_id} not found in project {project_id}.",
                    request.path,
                )
            )
        return folder

    def _folder_at(self, project_id: str, path: str) -> Folder | None:
        for folder in self.folders.values():
            if folder.project_id == project_id and folder.path == path:
                return folder
        return None

    def _new_folder(self, project_id: str, path: str) -> Folder:
        folder = Folder(f"fol.{uuid.uuid4().hex}", project_id, path, _now())
        self.folders[folder.id] = folder
        return folder

    def _project_data(self, folder: Folder) -> dict:
        name = folder.path.rstrip("/").rpartition("/")[2]
        return {
            "projectId": folder.project_id,
            "data": {
                "id": folder.id,
                "urn": f"urn:ilmn:ica:region:{self.region_id}:data:{folder.id}#{folder.path}",
                "details": {
                    "timeCreated": folder.created,
                    "timeModified": folder.created,
                    "creatorId": self.user_id,
                    "tenantId": TENANT_ID,
                    "owningProjectId": folder.project_id,
                    "owningProjectName": self.projects[folder.project_id]["name"],
                    "name": name,
                    "path": folder.path,
                    "status": "AVAILABLE",
                    "dataType": "FOLDER",
                    "tags": {
                        "technicalTags": [],
                        "userTags": [],
                        "connectorTags": [],
                        "runInTags": [],
                        "runOutTags": [],
                        "referenceTags": [],
                    },
                },
                "folderDetails": {"nonIndexed": False},
            },
        }

    def _matches(self, request: Received, project: str, folder: Folder) -> bool:
        """The data list's filters, all of which must hold."""
        query = request.query
        mode = _one(request, "filePathMatchMode", "STARTS_WITH_CASE_INSENSITIVE")
        name_mode = _one(request, "filenameMatchMode", "EXACT")
        kind = _one(request, "type", "")
        if mode not in PATH_MATCH_MODES or name_mode not in NAME_MATCH_MODES:
            raise BadRequest(problem(400, "Bad Request", "Unknown filePath or filename mode."))
        if kind not in ("", *DATA_TYPES) or any(s not in STATUSES for s in query.get("status", [])):
            raise BadRequest(problem(400, "Bad Request", "Unknown type or status."))
        name = folder.path.rstrip("/").rpartition("/")[2]
        parent = folder.path.rstrip("/").rpartition("/")[0] + "/"
        checks = [kind in ("", "FOLDER"), not query.get("status") or "AVAILABLE" in query["status"]]
        if "filePath" in query:
            wanted = [p.lower() for p in query["filePath"]]
            path = folder.path.lower()
            full = mode == "FULL_CASE_INSENSITIVE"
            checks.append(any(path == w if full else path.startswith(w) for w in wanted))
        if "filename" in query:
            names = query["filename"]
            checks.append(
                {
                    "EXACT": name in names,
                    "EXCLUDE": name not in names,
                    "FUZZY": any(n.lower() in name.lower() for n in names),
                }[name_mode]
            )
        if "parentFolderPath" in query:
            wanted_parent = _one(request, "parentFolderPath", "")
            if not (wanted_parent.startswith("/") and wanted_parent.endswith("/")):
                raise BadRequest(
                    problem(400, "Bad Request", "parentFolderPath must start and end with '/'.")
                )
            checks.append(parent == wanted_parent)
        if "parentFolderId" in query:
            parents = [self._folder(request, project, i).path for i in query["parentFolderId"]]
            checks.append(parent in parents)
        return all(checks)

    def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        s3 = boto3.session.Session().client(
            "s3",
            endpoint_url=self.s3_endpoint,
            region_name=self.region,
            aws_access_key_id="icav2-test-server",
            aws_secret_access_key="icav2-test-server",
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )
        try:
            s3.head_bucket(Bucket=self.bucket)
        except ClientError:
            kwargs: dict = {"Bucket": self.bucket}
            if self.region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
            s3.create_bucket(**kwargs)
        self._bucket_ready = True


def _one(request: Received, name: str, default: str) -> str:
    values = request.query.get(name)
    return values[0] if values else default


def _public(project: dict) -> dict:
    return {k: v for k, v in project.items() if not k.startswith("_")}


def _page(request: Received, items: list[dict]) -> dict:
    """Offset paging when pageOffset is given (nextPageToken ""), cursor paging otherwise."""
    try:
        size = int(_one(request, "pageSize", str(DEFAULT_PAGE_SIZE)))
        if "pageOffset" in request.query:
            offset = int(_one(request, "pageOffset", "0"))
        else:
            token = _one(request, "pageToken", "")
            offset = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
    except ValueError:
        raise BadRequest(
            problem(400, "Bad Request", "pageSize, pageOffset or pageToken is malformed.")
        ) from None
    if size < 1 or offset < 0:
        raise BadRequest(problem(400, "Bad Request", "pageSize must be positive."))
    page = items[offset : offset + size]
    more = offset + len(page) < len(items)
    cursor = "pageOffset" not in request.query and more
    return {
        "items": page,
        "nextPageToken": base64.urlsafe_b64encode(str(offset + size).encode()).decode()
        if cursor
        else "",
        "remainingRecords": len(items) - offset - len(page) if more else 0,
        "totalItemCount": len(items),
    }
