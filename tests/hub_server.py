"""A loopback stand-in for the Hugging Face Hub HTTP API — a TEST FIXTURE, not a server for real use.

It implements only what `huggingface_hub` 2.x and transformers call for a push and a load, in memory:
``POST /api/repos/create``, ``POST /api/validate-yaml`` (the README's YAML header must parse), ``POST /api/models/{repo}/preupload/{rev}`` (every file is "regular", so commits carry
base64 content and no LFS/Xet transfer happens), ``POST /api/models/{repo}/commit/{rev}`` (NDJSON),
``GET /api/models/{repo}[/revision/{rev}]`` (model info), ``GET /api/models/{repo}/tree/{rev}`` and
``HEAD``/``GET /{repo}/resolve/{rev}/{path}`` with the ``X-Repo-Commit`` / ``ETag`` headers `hf_hub_download`
reads. Unknown repos and files answer 404 with the ``X-Error-Code`` the client maps to its exceptions.

Use it as a context manager; it binds 127.0.0.1 on a random port, serves from a daemon thread and stops on exit::

    with LoopbackHub() as hub:
        env = {"HF_ENDPOINT": hub.url, ...}  # set before huggingface_hub is imported (e.g. in a subprocess)
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

import yaml


class _Repo:
    def __init__(self):
        self.commits: dict[str, dict[str, bytes]] = {}  # sha -> files
        self.head: str | None = None

    def files(self, revision: str) -> dict[str, bytes] | None:
        if revision in ("main", "HEAD") or revision is None:
            return self.commits.get(self.head, {}) if self.head else {}
        return self.commits.get(revision)


class LoopbackHub:
    """In-memory Hub API on 127.0.0.1 (test fixture). `requests` records ``(method, path)`` of every call."""

    def __init__(self):
        self.repos: dict[str, _Repo] = {}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        hub = self

        class Handler(_Handler):
            pass

        Handler.hub = hub
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LoopbackHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: LoopbackHub

    def log_message(self, *args):  # keep pytest output clean
        pass

    # Responses -------------------------------------------------------------------------------------------------

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, head: bool = False):
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _json(self, status: int, data, headers: dict | None = None):
        self._send(status, json.dumps(data).encode(), {"Content-Type": "application/json", **(headers or {})})

    def _not_found(self, code: str, message: str, head: bool = False):
        body = json.dumps({"error": message}).encode()
        self._send(
            404,
            body,
            {"Content-Type": "application/json", "X-Error-Code": code, "X-Error-Message": message},
            head,
        )

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # Routing ---------------------------------------------------------------------------------------------------

    def do_HEAD(self):
        self._route("HEAD")

    def do_GET(self):
        self._route("GET")

    def do_POST(self):
        self._route("POST")

    def _route(self, method: str):
        path = unquote(urlparse(self.path).path)
        with self.hub.lock:
            self.hub.requests.append((method, path))
        body = self._body() if method == "POST" else b""
        if method == "POST" and path == "/api/repos/create":
            return self._create(json.loads(body or b"{}"))
        if method == "POST" and path == "/api/validate-yaml":
            return self._validate_yaml(json.loads(body)["content"])
        match = re.fullmatch(r"/api/models/([^/]+/[^/]+)/(preupload|commit)/(.+)", path)
        if method == "POST" and match:
            repo_id, action, _ = match.groups()
            if repo_id not in self.hub.repos:
                return self._not_found("RepoNotFound", f"Repository {repo_id} not found")
            return self._preupload(json.loads(body)) if action == "preupload" else self._commit(repo_id, body)
        match = re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/revision/(.+))?", path)
        if method == "GET" and match:
            return self._info(match.group(1), match.group(2) or "main")
        match = re.fullmatch(r"/api/models/([^/]+/[^/]+)/tree/([^/]+)(?:/(.*))?", path)
        if method == "GET" and match:
            return self._tree(*match.groups())
        match = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if method in ("GET", "HEAD") and match:
            return self._resolve(*match.groups(), head=method == "HEAD")
        self._not_found("EntryNotFound", f"{method} {path} is not implemented by the loopback hub")

    # Handlers --------------------------------------------------------------------------------------------------

    def _create(self, payload: dict):
        name, organization = payload.get("name"), payload.get("organization")
        repo_id = f"{organization}/{name}" if organization else name
        if "/" not in repo_id:
            repo_id = f"user/{repo_id}"
        url = f"{self.hub.url}/{repo_id}"
        with self.hub.lock:
            if repo_id in self.hub.repos:
                return self._json(409, {"error": "You already created this model repo", "url": url})
            self.hub.repos[repo_id] = _Repo()
        self._json(200, {"url": url, "name": repo_id})

    def _validate_yaml(self, content: str):
        """Check that a README's YAML header parses and that `model-index`, when present, is a list."""
        errors = []
        match = re.match(r"^---\n(.*?)\n---", content, flags=re.S)
        if match:
            try:
                metadata = yaml.safe_load(match.group(1)) or {}
                if not isinstance(metadata.get("model-index", []), list):
                    errors.append({"message": "model-index must be a list"})
            except yaml.YAMLError as error:
                errors.append({"message": f"YAML does not parse: {error}"})
        self._json(400 if errors else 200, {"errors": errors, "warnings": []})

    def _preupload(self, payload: dict):
        files = [
            {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None}
            for f in payload.get("files", [])
        ]
        self._json(200, {"files": files})

    def _commit(self, repo_id: str, body: bytes):
        repo = self.hub.repos[repo_id]
        with self.hub.lock:
            files = dict(repo.files("main"))
            for line in body.splitlines():
                if not line.strip():
                    continue
                item = json.loads(line)
                key, value = item["key"], item["value"]
                if key == "file":
                    files[value["path"]] = base64.b64decode(value["content"])
                elif key == "deletedFile":
                    files.pop(value["path"], None)
                elif key != "header":
                    return self._json(400, {"error": f"The loopback hub does not support `{key}` operations"})
            digest = hashlib.sha1(
                repr(sorted((p, hashlib.sha1(c).hexdigest()) for p, c in files.items())).encode()
            )
            sha = hashlib.sha1(digest.digest() + str(len(repo.commits)).encode()).hexdigest()
            repo.commits[sha] = files
            repo.head = sha
        self._json(
            200,
            {"commitUrl": f"{self.hub.url}/{repo_id}/commit/{sha}", "commitOid": sha, "pullRequestUrl": None},
        )

    def _snapshot(self, repo_id: str, revision: str, head: bool = False):
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            self._not_found("RepoNotFound", f"Repository {repo_id} not found", head)
            return None, None
        files = repo.files(revision)
        if files is None:
            self._not_found("RevisionNotFound", f"Revision {revision} not found in {repo_id}", head)
            return None, None
        sha = repo.head if revision in ("main", "HEAD") else revision
        return files, sha

    def _info(self, repo_id: str, revision: str):
        files, sha = self._snapshot(repo_id, revision)
        if files is None:
            return
        self._json(
            200,
            {
                "id": repo_id,
                "modelId": repo_id,
                "sha": sha,
                "private": False,
                "siblings": [{"rfilename": name} for name in sorted(files)],
                "tags": [],
            },
        )

    def _tree(self, repo_id: str, revision: str, folder: str | None):
        files, _ = self._snapshot(repo_id, revision)
        if files is None:
            return
        prefix = f"{folder.rstrip('/')}/" if folder else ""
        entries = [
            {"type": "file", "path": name, "size": len(content), "oid": hashlib.sha1(content).hexdigest()}
            for name, content in sorted(files.items())
            if name.startswith(prefix)
        ]
        self._json(200, entries)

    def _resolve(self, repo_id: str, revision: str, filename: str, head: bool):
        files, sha = self._snapshot(repo_id, revision, head)
        if files is None:
            return
        if filename not in files:
            return self._not_found("EntryNotFound", f"{filename} not found in {repo_id}", head)
        content = files[filename]
        etag = f'"{hashlib.sha1(content).hexdigest()}"'
        self._send(
            200,
            content,
            {"Content-Type": "application/octet-stream", "ETag": etag, "X-Repo-Commit": sha},
            head=head,
        )
