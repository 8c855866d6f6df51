"""A dataset over HTTP(S): one file, or a folder served with a JSON directory index.

A URL ending in '/' is a folder; it must serve a JSON index of the form nginx's
`autoindex_format json` writes (`[{"name": ..., "type": "file", "size": ..., "mtime":
...}]`). Reads use range requests, so an interrupted transfer resumes where it broke off.
"""

from __future__ import annotations

import http.client
import json
import posixpath
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from envbuild.data.digest import check_relpath
from envbuild.data.filters import PathFilter
from envbuild.data.sources.interface import Source, SourceError, SourceFile, TransferInterrupted

_CHUNK = 1 << 20
_TIMEOUT = 60
# Proxies come from the environment (http_proxy, no_proxy), as in every HTTP client.
_OPENER = urllib.request.build_opener()


class HttpSource(Source):
    hints_portable = True  # ETag and server mtime are the same for every client

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self._folder = location.endswith("/")
        if self._folder:
            self._base = location
        else:
            self._base = location.rsplit("/", 1)[0] + "/"
            self._name = unquote(posixpath.basename(urlsplit(location).path))

    def list_files(self, include: PathFilter) -> list[SourceFile]:
        if not self._folder:
            return [self._head()] if include.matches(self._name) else []
        files: list[SourceFile] = []
        pending = [""]
        while pending:
            prefix = pending.pop()
            for item in self._index(prefix):
                name = item.get("name")
                if not isinstance(name, str) or "/" in name or name in (".", ".."):
                    raise SourceError(f"{self._base}{prefix}: odd name {name!r} in the index")
                if item.get("type") == "directory":
                    pending.append(f"{prefix}{name}/")
                elif item.get("type") == "file" and include.matches(prefix + name):
                    size = item.get("size")
                    if not isinstance(size, int):
                        raise SourceError(f"{self._base}{prefix}{name}: index gives no size")
                    hint = f"{size}:{item.get('mtime', '')}"
                    files.append(SourceFile(path=prefix + name, size=size, hint=hint))
        for found in files:
            why = check_relpath(found.path)
            if why:
                raise SourceError(f"{self._base}{found.path}: {why}")
        files.sort(key=lambda f: f.path)
        return files

    def read(self, path: str, *, offset: int = 0) -> Iterator[bytes]:
        url = self._url(path)
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            response = _OPENER.open(urllib.request.Request(url, headers=headers), timeout=_TIMEOUT)
        except urllib.error.HTTPError as error:
            error.close()
            if error.code == 416:  # nothing left after `offset`
                return
            raise _http_error(url, error.code) from None
        except (urllib.error.URLError, OSError) as error:
            raise TransferInterrupted(f"cannot reach {url}: {_reason(error)}") from None
        with response:
            skip = offset if offset and response.status == 200 else 0  # range ignored
            length = response.headers.get("Content-Length")
            received = 0
            try:
                while chunk := response.read(_CHUNK):
                    received += len(chunk)
                    if skip:
                        cut = min(skip, len(chunk))
                        chunk, skip = chunk[cut:], skip - cut
                    if chunk:
                        yield chunk
            except (http.client.HTTPException, OSError) as error:
                raise TransferInterrupted(f"transfer of {url} broke off: {_reason(error)}") from None
            # http.client ends a body cut short without an error: count it ourselves.
            if length is not None and length.isdigit() and received < int(length):
                raise TransferInterrupted(f"transfer of {url} broke off after {received} of {length} bytes")

    def _url(self, path: str) -> str:
        return self._base + "/".join(quote(part) for part in path.split("/"))

    def _head(self) -> SourceFile:
        request = urllib.request.Request(self.location, method="HEAD")
        try:
            with _OPENER.open(request, timeout=_TIMEOUT) as response:
                length = response.headers.get("Content-Length")
                tag = response.headers.get("ETag") or response.headers.get("Last-Modified", "")
        except urllib.error.HTTPError as error:
            error.close()
            raise _http_error(self.location, error.code) from None
        except (urllib.error.URLError, OSError) as error:
            raise SourceError(f"cannot reach {self.location}: {_reason(error)}") from None
        if length is None or not length.isdigit():
            raise SourceError(f"{self.location} sends no Content-Length; its size is unknown")
        return SourceFile(path=self._name, size=int(length), hint=f"{length}:{tag}")

    def _index(self, prefix: str) -> list[dict[str, Any]]:
        url = self._base + "/".join(quote(p) for p in prefix.split("/"))
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        try:
            with _OPENER.open(request, timeout=_TIMEOUT) as response:
                body = response.read()
        except urllib.error.HTTPError as error:
            error.close()
            raise _http_error(url, error.code) from None
        except (urllib.error.URLError, OSError) as error:
            raise SourceError(f"cannot reach {url}: {_reason(error)}") from None
        try:
            items = json.loads(body)
        except ValueError:
            items = None
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise SourceError(
                f"{url} does not serve a JSON directory index",
                hint="serve the folder with nginx `autoindex on; autoindex_format json;`, "
                "or point the source at a single file",
            )
        return items


def _http_error(url: str, code: int) -> SourceError:
    if code in (401, 403):
        return SourceError(
            f"permission denied (HTTP {code}) for {url}",
            hint="check that the server grants read access to this path",
        )
    if code == 404:
        return SourceError(f"{url} not found (HTTP 404)", hint="check the source URL, or re-lock")
    if code >= 500:
        return TransferInterrupted(f"{url}: server error (HTTP {code})")
    return SourceError(f"{url}: HTTP {code}")


def _reason(error: BaseException) -> str:
    reason = getattr(error, "reason", None)
    return str(reason if reason is not None else error) or type(error).__name__
