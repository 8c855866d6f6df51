"""A real package index on 127.0.0.1, hosting several named indexes side by side.

Layout, for an index named `pypi` on `http://127.0.0.1:PORT`:

    /pypi/simple/                    project list
    /pypi/simple/<project>/          files of a project (non-normalised names redirect)
    /files/pypi/<filename>           the file itself, with Content-Length and an ETag
    /files/pypi/<filename>.metadata  its core metadata (PEP 658 / PEP 714), wheels only

Simple pages speak PEP 503 HTML and PEP 691 JSON, chosen by the Accept header (or
`?format=<content type>`); JSON is API 1.1 with PEP 700 `versions`, `size` and
`upload-time`. Each index decides (`IndexSettings`) whether it publishes hashes, upload
times, metadata files and JSON at all (PyTorch's real index serves HTML without hashes or
upload times), whether it demands HTTP basic auth, and whether it is broken (answers every
request with one status). Every request is logged, so tests can assert what was fetched.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from packaging.utils import canonicalize_name

from .simple import (
    HTML_V1,
    JSON_V1,
    HostedFile,
    Index,
    IndexSettings,
    file_url,
    negotiate,
    project_html,
    project_json,
    projects_page,
)

__all__ = ["HostedFile", "Index", "IndexServer", "IndexSettings", "LoggedRequest"]


@dataclass(frozen=True, kw_only=True, slots=True)
class LoggedRequest:
    """One request the server answered. `kind`: projects, project, file, metadata or other."""

    method: str
    path: str
    index: str | None
    kind: str
    target: str | None  # project name or file name
    status: int
    response_format: str | None  # "json" or "html" for simple pages answered with 200
    accept: str | None
    credentials_sent: bool
    user_agent: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class _Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain"
    headers: tuple[tuple[str, str], ...] = ()
    response_format: str | None = None


class IndexServer:
    """A threaded HTTP server for several indexes; a context manager, or start() and stop()."""

    def __init__(self, indexes: Iterable[Index] = ()) -> None:
        self._indexes: dict[str, Index] = {i.name: i for i in indexes}
        self._log: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def add_index(self, name: str, settings: IndexSettings | None = None) -> Index:
        with self._lock:
            index = Index(name=name, settings=settings or IndexSettings())
            self._indexes[name] = index
            return index

    def index(self, name: str) -> Index:
        return self._indexes[name]

    def configure(self, name: str, **changes: object) -> IndexSettings:
        """Change an index's settings while running, e.g. `configure("pypi", broken=503)`."""
        with self._lock:
            index = self._indexes[name]
            index.settings = dataclasses.replace(index.settings, **changes)  # type: ignore[arg-type]
            return index.settings

    def add_file(
        self,
        index: str,
        path: Path,
        *,
        upload_time: datetime | None = None,
        yanked: str | bool = False,
    ) -> HostedFile:
        with self._lock:
            return self._indexes[index].add(path, upload_time=upload_time, yanked=yanked)

    def start(self) -> IndexServer:
        if self._httpd is None:
            httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
            httpd.daemon_threads = True
            httpd.index_server = self  # type: ignore[attr-defined]
            self._httpd = httpd
            self._thread = threading.Thread(
                target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._httpd = self._thread = None

    def __enter__(self) -> IndexServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("index server is not running")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def simple_url(self, index: str) -> str:
        return f"{self.base_url}/{index}/simple/"

    def file_url(self, index: str, filename: str) -> str:
        return file_url(self.base_url, index, filename)

    @property
    def urls(self) -> dict[str, str]:
        return {name: self.simple_url(name) for name in sorted(self._indexes)}

    @property
    def log(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    def requests(self, *, kind: str | None = None, index: str | None = None) -> list[LoggedRequest]:
        return [
            r
            for r in self.log
            if (kind is None or r.kind == kind) and (index is None or r.index == index)
        ]

    def downloads(self, filename: str, *, index: str | None = None) -> int:
        """How many times the file itself was sent in full (GET answered 200)."""
        return sum(
            1
            for r in self.requests(kind="file", index=index)
            if r.target == filename and r.method == "GET" and r.status == 200
        )

    def _record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._log.append(entry)

    def _respond(
        self, path: str, query: str, headers: dict[str, str]
    ) -> tuple[_Response, str | None, str, str | None]:
        """Route one request: (response, index name, kind, target)."""
        parts = [unquote(p) for p in path.split("/")]
        index_name, kind, target = None, "other", None
        if len(parts) >= 3 and parts[1] == "files":
            index_name, target = parts[2], "/".join(parts[3:])
            kind = "metadata" if target.endswith(".metadata") else "file"
        elif len(parts) >= 3 and parts[2] == "simple":
            index_name = parts[1]
            kind = "projects" if len(parts) == 3 or parts[3] == "" else "project"
            target = parts[3] if kind == "project" else None
        with self._lock:
            index = self._indexes.get(index_name) if index_name else None
        if index is None:
            return _Response(status=404, body=b"not found\n"), index_name, kind, target
        s = index.settings
        if s.broken is not None:
            body = f"index {index.name} is broken on purpose\n".encode()
            return _Response(status=s.broken, body=body), index_name, kind, target
        if s.auth is not None and headers.get("authorization") != _basic(*s.auth):
            challenge = (("WWW-Authenticate", f'Basic realm="{index.name}"'),)
            response = _Response(status=401, body=b"authentication required\n", headers=challenge)
            return response, index_name, kind, target
        if kind in ("file", "metadata") and target:
            return self._file(index, target, kind), index_name, kind, target
        if kind in ("projects", "project"):
            accept = parse_qs(query).get("format", [headers.get("accept", "")])[0]
            return self._simple(index, kind, target, path, accept), index_name, kind, target
        return _Response(status=404, body=b"not found\n"), index_name, kind, target

    def _file(self, index: Index, target: str, kind: str) -> _Response:
        name = target.removesuffix(".metadata") if kind == "metadata" else target
        hosted = index.files.get(name)
        if hosted is None or (kind == "metadata" and not index.settings.publish_metadata):
            return _Response(status=404, body=b"no such file\n")
        cache = _cache_headers(index.settings.file_cache_control)
        if kind == "metadata":
            return _Response(status=200, body=hosted.metadata, headers=cache)
        body = hosted.path.read_bytes()
        return _Response(
            status=200, body=body, content_type="application/octet-stream", headers=cache
        )

    def _simple(
        self, index: Index, kind: str, target: str | None, path: str, accept: str
    ) -> _Response:
        fmt = negotiate(accept, json_api=index.settings.json_api)
        if fmt is None:
            return _Response(status=406, body=b"not acceptable\n")
        if kind == "project" and target is not None:
            project = canonicalize_name(target)
            if target != project or not path.endswith("/"):
                location = (("Location", f"/{index.name}/simple/{project}/"),)
                return _Response(status=301, headers=location)
            files = index.project_files(project)
            if not files:
                return _Response(status=404, body=b"no such project\n")
            render = project_json if fmt == "json" else project_html
            body = render(index, project, files, self.base_url)
        else:
            body = projects_page(index, fmt)
        ctype = JSON_V1 if fmt == "json" else HTML_V1
        if not index.settings.json_api:
            ctype = "text/html; charset=utf-8"
        headers = (("Vary", "Accept"), *_cache_headers(index.settings.page_cache_control))
        return _Response(
            status=200, body=body, content_type=ctype, headers=headers, response_format=fmt
        )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clients' connection pools expect
    server_version = "envbuild-test-index/1.0"

    def log_message(self, format: str, *args: object) -> None:
        pass  # the request log replaces stderr noise

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def _serve(self, *, head: bool) -> None:
        app: IndexServer = self.server.index_server  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        response, index_name, kind, target = app._respond(url.path, url.query, headers)
        status, body = response.status, response.body
        etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
        if status == 200 and headers.get("if-none-match") == etag:
            status, body = 304, b""
        app._record(
            LoggedRequest(
                method=self.command,
                path=url.path,
                index=index_name,
                kind=kind,
                target=target,
                status=status,
                response_format=response.response_format if status == 200 else None,
                accept=headers.get("accept"),
                credentials_sent="authorization" in headers,
                user_agent=headers.get("user-agent"),
            )
        )
        self.send_response(status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(body)))
        if response.status == 200:
            self.send_header("ETag", etag)
        for key, value in response.headers:
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)


def _cache_headers(cache_control: str | None) -> tuple[tuple[str, str], ...]:
    return (("Cache-Control", cache_control),) if cache_control else ()


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
