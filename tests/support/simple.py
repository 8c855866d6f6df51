"""What an index holds and how its simple pages read (PEP 503 HTML, PEP 691/700 JSON)."""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import HeaderParser
from pathlib import Path
from urllib.parse import quote

from packaging.utils import parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

from .wheelfactory import read_metadata, read_sdist_metadata

JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
_ACCEPTABLE = {
    JSON_V1: "json",
    "application/vnd.pypi.simple.latest+json": "json",
    HTML_V1: "html",
    "application/vnd.pypi.simple.latest+html": "html",
    "text/html": "html",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class IndexSettings:
    """How one index behaves; `auth` is `(username, password)` when basic auth is required."""

    publish_hashes: bool = True
    publish_upload_times: bool = True
    publish_metadata: bool = True
    json_api: bool = True
    auth: tuple[str, str] | None = None
    broken: int | None = None  # answer every request with this HTTP status
    # Every response carries an ETag (and honours If-None-Match); Cache-Control as PyPI sends
    # it for files. Pages default to revalidation so tests that add files see them at once.
    file_cache_control: str | None = "max-age=365000000, immutable, public"
    page_cache_control: str | None = "max-age=0, must-revalidate"


@dataclass(frozen=True, kw_only=True, slots=True)
class HostedFile:
    """One distribution file an index serves, with what the index knows about it."""

    path: Path
    project: str
    version: str
    sha256: str
    size: int
    metadata: bytes
    requires_python: str | None
    upload_time: datetime | None = None
    yanked: str | bool = False

    @property
    def filename(self) -> str:
        return self.path.name

    @property
    def metadata_sha256(self) -> str:
        return hashlib.sha256(self.metadata).hexdigest()

    @classmethod
    def from_path(
        cls, path: Path, *, upload_time: datetime | None = None, yanked: str | bool = False
    ) -> HostedFile:
        if path.name.endswith(".whl"):
            name, version, _build, _tags = parse_wheel_filename(path.name)
            metadata = read_metadata(path)
        else:
            name, version = parse_sdist_filename(path.name)
            metadata = read_sdist_metadata(path)
        headers = HeaderParser().parsestr(metadata.decode("utf-8"))
        data = path.read_bytes()
        if upload_time is not None and upload_time.tzinfo is None:
            raise ValueError(f"{path.name}: upload_time must be timezone-aware")
        return cls(
            path=path,
            project=str(name),
            version=str(version),
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            metadata=metadata,
            requires_python=headers.get("Requires-Python"),
            upload_time=upload_time,
            yanked=yanked,
        )


@dataclass(kw_only=True)
class Index:
    """A named index: its settings and files (mutable while the server runs)."""

    name: str
    settings: IndexSettings = field(default_factory=IndexSettings)
    files: dict[str, HostedFile] = field(default_factory=dict)

    def add(
        self, path: Path, *, upload_time: datetime | None = None, yanked: str | bool = False
    ) -> HostedFile:
        hosted = HostedFile.from_path(path, upload_time=upload_time, yanked=yanked)
        self.files[hosted.filename] = hosted
        return hosted

    def projects(self) -> list[str]:
        return sorted({f.project for f in self.files.values()})

    def project_files(self, project: str) -> list[HostedFile]:
        found = [f for f in self.files.values() if f.project == project]
        return sorted(found, key=lambda f: (Version(f.version), f.filename))


def file_url(base_url: str, index: str, filename: str) -> str:
    # Percent-encoded like PyTorch's index (`torch-2.5.1%2Bcu121-...`); clients decode it.
    return f"{base_url}/files/{quote(index)}/{quote(filename)}"


def _file_entry_json(index: Index, f: HostedFile, base_url: str) -> dict[str, object]:
    s = index.settings
    entry: dict[str, object] = {
        "filename": f.filename,
        "url": file_url(base_url, index.name, f.filename),
        "hashes": {"sha256": f.sha256} if s.publish_hashes else {},
        "requires-python": f.requires_python,
        "size": f.size,
        "yanked": f.yanked,
    }
    if s.publish_metadata and f.filename.endswith(".whl"):
        meta: object = {"sha256": f.metadata_sha256} if s.publish_hashes else True
        entry["core-metadata"] = entry["dist-info-metadata"] = meta
    if s.publish_upload_times and f.upload_time is not None:
        when = f.upload_time.astimezone(UTC)
        entry["upload-time"] = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return entry


def project_json(index: Index, project: str, files: list[HostedFile], base_url: str) -> bytes:
    versions = sorted({f.version for f in files}, key=Version)
    doc = {
        "meta": {"api-version": "1.1"},
        "name": project,
        "versions": versions,
        "files": [_file_entry_json(index, f, base_url) for f in files],
    }
    return json.dumps(doc, indent=1).encode()


def project_html(index: Index, project: str, files: list[HostedFile], base_url: str) -> bytes:
    s = index.settings
    links = []
    for f in files:
        href = file_url(base_url, index.name, f.filename)
        if s.publish_hashes:
            href += f"#sha256={f.sha256}"
        attrs = [f'href="{html.escape(href)}"']
        if f.requires_python:
            attrs.append(f'data-requires-python="{html.escape(f.requires_python)}"')
        if s.publish_metadata and f.filename.endswith(".whl"):
            meta = f"sha256={f.metadata_sha256}" if s.publish_hashes else "true"
            attrs += [f'data-dist-info-metadata="{meta}"', f'data-core-metadata="{meta}"']
        if f.yanked is not False:
            reason = "" if f.yanked is True else str(f.yanked)
            attrs.append(f'data-yanked="{html.escape(reason)}"')
        links.append(f"    <a {' '.join(attrs)}>{html.escape(f.filename)}</a><br/>")
    return _html_page(f"Links for {project}", links)


def projects_page(index: Index, fmt: str) -> bytes:
    names = index.projects()
    if fmt == "json":
        doc = {"meta": {"api-version": "1.1"}, "projects": [{"name": n} for n in names]}
        return json.dumps(doc, indent=1).encode()
    return _html_page("Simple index", [f'    <a href="{n}/">{n}</a><br/>' for n in names])


def _html_page(title: str, body: list[str]) -> bytes:
    lines = [
        "<!DOCTYPE html>",
        "<html>",
        "  <head>",
        '    <meta name="pypi:repository-version" content="1.1">',
        f"    <title>{html.escape(title)}</title>",
        "  </head>",
        "  <body>",
        f"    <h1>{html.escape(title)}</h1>",
        *body,
        "  </body>",
        "</html>",
        "",
    ]
    return "\n".join(lines).encode()


def negotiate(accept: str | None, *, json_api: bool = True) -> str | None:
    """The response format PEP 691 content negotiation picks; None means 406.

    An index without the JSON API behaves as a legacy server: HTML whatever was asked.
    """
    if not accept or not json_api:
        return "html"
    best: tuple[float, int, str] | None = None
    for position, item in enumerate(accept.split(",")):
        media, *params = (part.strip() for part in item.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        fmt = _ACCEPTABLE.get(media.lower()) or ("html" if media in ("*/*", "text/*") else None)
        if fmt is None or q <= 0:
            continue
        if best is None or (q, -position) > (best[0], best[1]):
            best = (q, -position, fmt)
    return best[2] if best else None
