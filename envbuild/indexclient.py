"""The one seam through which envbuild talks to package indexes itself.

uv does the resolving; envbuild fetches a file only to hash it when an index publishes no
hash, and looks up download URLs for exports. Credentials come from the user's usual
places (netrc, or uv's UV_INDEX_<NAME>_USERNAME/_PASSWORD) and never leave this module.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import netrc
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from envbuild.errors import ExternalError
from envbuild.fileio import exclusive_lock, write_atomic
from envbuild.paths import cache_dir
from envbuild.scrub import scrub, without_credentials

_CHUNK = 1 << 20


class IndexUnreachable(ExternalError):
    """An index could not be reached or answered with an error."""


def index_request(url: str, index_name: str | None) -> urllib.request.Request:
    parsed = urllib.parse.urlsplit(url)
    headers = {"User-Agent": "envbuild"}
    user = password = None
    if index_name:
        env = index_name.upper().replace("-", "_").replace(".", "_")
        user = os.environ.get(f"UV_INDEX_{env}_USERNAME")
        password = os.environ.get(f"UV_INDEX_{env}_PASSWORD")
    if user is None and parsed.hostname:
        try:
            found = netrc.netrc(os.environ.get("NETRC")).authenticators(parsed.hostname)
        except (FileNotFoundError, netrc.NetrcParseError, OSError):
            found = None
        if found:
            user, password = found[0], found[2]
    if user is not None:
        token = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    return urllib.request.Request(url, headers=headers)


def hash_remote_file(url: str, *, index_name: str | None) -> tuple[str, int]:
    """Download `url` once, streaming, and return (`sha256:<hex>`, size)."""
    sha = hashlib.sha256()
    size = 0
    try:
        with urllib.request.urlopen(index_request(url, index_name), timeout=60) as response:
            while chunk := response.read(_CHUNK):
                sha.update(chunk)
                size += len(chunk)
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        raise IndexUnreachable(f"cannot download {scrub(url)}: {error}",
                          hint="check the network and the index's credentials (netrc)") from None
    return "sha256:" + sha.hexdigest(), size


class UrlMemo:
    """Remembers where each locked file was found, keyed by index name, file name and hash.

    A lock names no host; exports need URLs. The memo lives in the user's cache, so an
    export right after a lock needs no network; on a miss the index is asked again.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or cache_dir() / "urls.json"
        self._new: dict[str, str] = {}

    @staticmethod
    def key(index_url: str, file: str, hash_: str) -> str:
        # Keyed by the index's URL, not its name: after a move to a mirror, exports ask the
        # mirror instead of repeating the old host.
        # Without credentials: the resolver saw the URL as configured, an export or image
        # build sees it without them, and both must find the same entry.
        return f"{without_credentials(index_url.rstrip('/'))} {file} {hash_}"

    def remember(self, index_url: str, file: str, hash_: str, url: str) -> None:
        self._new[self.key(index_url, file, hash_)] = without_credentials(url)

    def _load(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def lookup(self, index_url: str, file: str, hash_: str) -> str | None:
        key = self.key(index_url, file, hash_)
        return self._new.get(key) or self._load().get(key)

    def save(self) -> None:
        if not self._new:
            return
        with exclusive_lock(self.path.with_suffix(".flock")):
            merged = {**self._load(), **self._new}
            write_atomic(self.path, json.dumps(merged, sort_keys=True, indent=0).encode())


def find_file_url(index_url: str, project: str, file: str, *, index_name: str | None) -> str | None:
    """Look a file up by name on an index's simple API page (PEP 691 JSON, else HTML)."""
    page = f"{index_url.rstrip('/')}/{project}/"
    request = index_request(page, index_name)
    request.add_header("Accept", "application/vnd.pypi.simple.v1+json, text/html;q=0.1")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            body = response.read().decode("utf-8", "replace")
            content_type = response.headers.get("Content-Type", "")
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        raise IndexUnreachable(f"cannot read {scrub(page)}: {error}") from None
    if "json" in content_type:
        for entry in json.loads(body).get("files", []):
            if entry.get("filename") == file:
                return urllib.parse.urljoin(page, str(entry["url"]))
        return None
    for href in re.findall(r'href="([^"]+)"', body):
        link = str(href).split("#", 1)[0]
        if urllib.parse.unquote(link.rsplit("/", 1)[-1]) == file:
            return urllib.parse.urljoin(page, link)
    return None


def project_files(index_url: str, project: str, *, index_name: str | None) -> list[dict[str, object]]:
    """The files of a project on an index, from its PEP 691 JSON page."""
    page = f"{index_url.rstrip('/')}/{project}/"
    request = index_request(page, index_name)
    request.add_header("Accept", "application/vnd.pypi.simple.v1+json")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            document = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as error:
        raise IndexUnreachable(f"cannot read {scrub(page)}: {error}") from None
    files = document.get("files", []) if isinstance(document, dict) else []
    for entry in files:
        entry["url"] = urllib.parse.urljoin(page, str(entry.get("url", "")))
    return [f for f in files if isinstance(f, dict)]


def remote_size(url: str, *, index_name: str | None) -> int | None:
    """The size of a remote file from a HEAD request, or None when the server will not say."""
    request = index_request(url, index_name)
    request.method = "HEAD"
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            length = response.headers.get("Content-Length")
    except (urllib.error.URLError, OSError, http.client.HTTPException):
        return None
    return int(length) if length and length.isdigit() else None


def requires_dist(file_url: str, *, index_name: str | None) -> list[str] | None:
    """A wheel's Requires-Dist from its PEP 658 metadata file, or None if not served."""
    import email.parser

    try:
        with urllib.request.urlopen(index_request(file_url + ".metadata", index_name), timeout=60) as response:
            text = response.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError, http.client.HTTPException):
        return None
    return list(email.parser.HeaderParser().parsestr(text).get_all("Requires-Dist") or [])


def locate_file(memo: UrlMemo, *, index_name: str, index_url: str, project: str, file: str,
                hash_: str) -> str:
    """Where a locked file can be downloaded: from the memo, else the index's simple page."""
    found = memo.lookup(index_url, file, hash_)
    if found:
        return found
    found = find_file_url(index_url, project, file, index_name=index_name)
    if found is None:
        raise ExternalError(f'{project}: {file} is no longer on index "{index_name}"',
                            hint=f"the file was yanked or removed; re-lock: envbuild lock --upgrade-package {project}")
    memo.remember(index_url, file, hash_, found)
    return found
