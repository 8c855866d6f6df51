"""The Distribution API over HTTP, written on the standard library (see the README for why).

One keep-alive connection per host, so a no-op push (a HEAD or two) costs milliseconds.
TLS always, except for loopback registries (127.0.0.1, localhost, [::1]). Blob downloads
follow redirects (to object storage) without our Authorization header and are checked
against their digest while they stream to disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import socket
import ssl
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from envbuild.image.registry.auth import Challenge, Credentials, find_credentials, parse_challenge
from envbuild.image.registry.interface import (
    MANIFEST_TYPES,
    OCI_INDEX,
    Fetched,
    NotFound,
    Reference,
    Registry,
    RegistryDigestMismatch,
    RegistryError,
)
from envbuild.scrub import scrub

CHUNK_BYTES = 64 << 20  # blobs larger than this go up in PATCH chunks of this size
_BLOCK = 1 << 20
_REFERRERS_BYTES = 4 << 20  # a referrers index larger than this is refused, not parsed
class _Slice:
    """The next `length` bytes of a file, as a body http.client can stream."""

    def __init__(self, handle: IO[bytes], length: int) -> None:
        self.handle, self.left, self.length = handle, length, length
        self.start = handle.tell()

    def tell(self) -> int:
        return self.start

    def seek(self, position: int) -> None:
        self.handle.seek(position)
        self.left = self.length

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        data = self.handle.read(self.left if size < 0 else min(size, self.left))
        self.left -= len(data)
        return data


_Body = bytes | IO[bytes] | _Slice | None


class DistributionRegistry(Registry):
    def __init__(self, registry: str, *, plain_http: bool, timeout: float = 120.0,
                 chunk_bytes: int = CHUNK_BYTES,
                 credentials: Credentials | bool | None = True) -> None:
        """`credentials=True` looks them up in the Docker config when a 401 asks for them."""
        self.registry = registry
        self.scheme = "http" if plain_http else "https"
        self.timeout = timeout
        self.chunk_bytes = chunk_bytes
        self._credentials = credentials
        self._connections: dict[tuple[str, str], http.client.HTTPConnection] = {}
        self._tokens: dict[str, str] = {}  # scope -> Authorization header value

    # -- the API ---------------------------------------------------------------------

    def manifest_digest(self, ref: Reference) -> str | None:
        try:
            with self._call("HEAD", f"/v2/{ref.repository}/manifests/{ref.reference}",
                            ref.repository, headers={"Accept": ", ".join(MANIFEST_TYPES)}
                            ) as response:
                found = response.getheader("Docker-Content-Digest")
        except NotFound:
            return None
        return found or self.get_manifest(ref).digest

    def get_manifest(self, ref: Reference) -> Fetched:
        with self._call("GET", f"/v2/{ref.repository}/manifests/{ref.reference}",
                        ref.repository, headers={"Accept": ", ".join(MANIFEST_TYPES)}
                        ) as response:
            data = response.read()
            media_type = (response.getheader("Content-Type") or "").split(";")[0].strip()
        found = "sha256:" + hashlib.sha256(data).hexdigest()
        if ref.digest and found != ref.digest:
            raise RegistryDigestMismatch(f"{ref}: the registry's manifest has digest {found}",
                                         hint="the pinned digest is wrong, or the registry "
                                              "is not the one that holds this image")
        if media_type not in MANIFEST_TYPES:
            try:
                media_type = str(json.loads(data).get("mediaType", ""))
            except (ValueError, AttributeError):
                media_type = ""
        if media_type not in MANIFEST_TYPES:
            raise RegistryError(f"{ref}: unsupported manifest type {media_type!r}",
                                hint="envbuild reads OCI and Docker schema 2 manifests and "
                                     "indexes")
        return Fetched(media_type=media_type, data=data, digest=found)

    def put_manifest(self, ref: Reference, media_type: str, data: bytes) -> str:
        with self._call("PUT", f"/v2/{ref.repository}/manifests/{ref.reference}",
                        ref.repository, push=True, body=data,
                        headers={"Content-Type": media_type}) as response:
            response.read()
            reported = response.getheader("Docker-Content-Digest")
        return reported or "sha256:" + hashlib.sha256(data).hexdigest()

    def delete_manifest(self, ref: Reference) -> None:
        with self._call("DELETE", f"/v2/{ref.repository}/manifests/{ref.reference}",
                        ref.repository, push=True) as response:
            response.read()

    def has_blob(self, repository: str, digest: str) -> bool:
        try:
            with self._call("HEAD", f"/v2/{repository}/blobs/{digest}", repository):
                return True
        except NotFound:
            return False

    def get_blob(self, repository: str, digest: str, dest: Path) -> None:
        sha = hashlib.sha256()
        with self._call("GET", f"/v2/{repository}/blobs/{digest}", repository) as response, \
                dest.open("wb") as out:
            while chunk := response.read(_BLOCK):
                sha.update(chunk)
                out.write(chunk)
        if "sha256:" + sha.hexdigest() != digest:
            raise RegistryDigestMismatch(f"{self.registry}/{repository}: blob {digest} "
                                         f"arrived with digest sha256:{sha.hexdigest()}")

    def mount_blob(self, repository: str, digest: str, source_repository: str) -> bool:
        query = urllib.parse.urlencode({"mount": digest, "from": source_repository})
        with self._call("POST", f"/v2/{repository}/blobs/uploads/?{query}", repository,
                        push=True, extra_scopes=(f"repository:{source_repository}:pull",)
                        ) as response:
            response.read()
            mounted = response.status == 201
            location = response.getheader("Location")
        if not mounted and location:  # an upload session was opened instead: cancel it
            with contextlib.suppress(RegistryError), \
                    self._call("DELETE", location, repository, push=True) as gone:
                gone.read()
        return mounted

    def put_blob(self, repository: str, digest: str, source: Path) -> None:
        size = source.stat().st_size
        location = self._start_upload(repository)
        with source.open("rb") as handle:
            if size > self.chunk_bytes:
                offset = 0
                while offset < size:
                    length = min(self.chunk_bytes, size - offset)
                    with self._call("PATCH", location, repository, push=True,
                                    body=_Slice(handle, length), headers={
                                        "Content-Type": "application/octet-stream",
                                        "Content-Length": str(length),
                                        "Content-Range": f"{offset}-{offset + length - 1}"}
                                    ) as response:
                        response.read()
                        location = response.getheader("Location") or location
                    offset += length
                body: _Body = b""
                length = 0
            else:
                body, length = handle, size
            with self._call("PUT", _with_query(location, digest=digest), repository,
                            push=True, body=body,
                            headers={"Content-Type": "application/octet-stream",
                                     "Content-Length": str(length)}) as response:
                response.read()

    def referrers(self, repository: str, digest: str) -> list[dict[str, Any]] | None:
        try:
            with self._call("GET", f"/v2/{repository}/referrers/{digest}", repository,
                            headers={"Accept": OCI_INDEX}) as response:
                data = response.read(_REFERRERS_BYTES + 1)
        except NotFound:
            return None
        try:
            found = json.loads(data) if len(data) <= _REFERRERS_BYTES else None
            manifests = found.get("manifests") if isinstance(found, dict) else None
        except ValueError:
            manifests = None
        if not isinstance(manifests, list) or \
                not all(isinstance(m, dict) for m in manifests):
            raise RegistryError(f"{self.registry}/{repository}: the referrers of {digest} "
                                "are not an OCI image index")
        return manifests

    def close(self) -> None:
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()

    # -- plumbing --------------------------------------------------------------------

    def _start_upload(self, repository: str) -> str:
        with self._call("POST", f"/v2/{repository}/blobs/uploads/", repository,
                        push=True, body=b"") as response:
            response.read()
            location = response.getheader("Location")
        if not location:
            raise RegistryError(f"{self.registry}: upload started without a Location")
        return location

    @contextlib.contextmanager
    def _call(self, method: str, target: str, repository: str, *, push: bool = False,
              body: _Body = None, headers: dict[str, str] | None = None,
              extra_scopes: tuple[str, ...] = ()) -> Iterator[http.client.HTTPResponse]:
        scope = " ".join((f"repository:{repository}:{'pull,push' if push else 'pull'}",
                          *extra_scopes))
        url = target if "://" in target else f"{self.scheme}://{self.registry}{target}"
        start = body.tell() if body is not None and not isinstance(body, bytes) else 0
        for attempt in range(2):
            sent = dict(headers or {})
            if scope in self._tokens:
                sent["Authorization"] = self._tokens[scope]
            response = self._send(method, url, sent, body)
            if response.status != 401 or attempt == 1:
                break
            challenge = parse_challenge(response.getheader("WWW-Authenticate") or "")
            response.read()
            if challenge is None:
                break
            self._tokens[scope] = self._authorise(challenge, scope)
            if body is not None and not isinstance(body, bytes):
                body.seek(start)
        redirects = 0
        while response.status in (301, 302, 303, 307, 308) and method in ("GET", "HEAD") \
                and redirects < 5:
            location = urllib.parse.urljoin(url, response.getheader("Location") or "")
            response.read()
            same_host = urllib.parse.urlsplit(location).netloc == self.registry
            sent = dict(headers or {})
            if same_host and scope in self._tokens:
                sent["Authorization"] = self._tokens[scope]
            url, redirects = location, redirects + 1
            response = self._send(method, url, sent, None)
        try:
            if response.status >= 400:
                raise self._error(method, url, response)
            yield response
        finally:
            response.close()

    def _send(self, method: str, url: str, headers: dict[str, str],
              body: _Body, *, token_service: bool = False) -> http.client.HTTPResponse:
        parts = urllib.parse.urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers.setdefault("User-Agent", "envbuild")
        if body is None and method in ("PUT", "POST", "PATCH"):
            body = b""
        for attempt in range(2):
            connection = self._connection(parts.scheme, parts.netloc)
            try:
                connection.request(method, path, body=body, headers=headers)
                return connection.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) \
                    as error:
                # A kept-alive connection the server closed: retry once on a fresh one.
                self._drop(parts.scheme, parts.netloc)
                if attempt == 1 or not (body is None or isinstance(body, bytes)):
                    raise self._unreachable(error, url if token_service else None) from None
            except (OSError, http.client.HTTPException) as error:
                self._drop(parts.scheme, parts.netloc)
                raise self._unreachable(error, url if token_service else None) from None
        raise AssertionError("unreachable")

    def _connection(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        key = (scheme, netloc)
        if key not in self._connections:
            if scheme == "https":
                self._connections[key] = http.client.HTTPSConnection(
                    netloc, timeout=self.timeout, context=ssl.create_default_context(),
                    blocksize=_BLOCK)
            else:
                self._connections[key] = http.client.HTTPConnection(
                    netloc, timeout=self.timeout, blocksize=_BLOCK)
        return self._connections[key]

    def _drop(self, scheme: str, netloc: str) -> None:
        connection = self._connections.pop((scheme, netloc), None)
        if connection is not None:
            connection.close()

    def _unreachable(self, error: BaseException, token_url: str | None) -> RegistryError:
        reason = "timed out" if isinstance(error, socket.timeout) else str(error) or \
            type(error).__name__
        if token_url is not None:
            # The registry answered; the server it sends clients to for a token did not.
            parts = urllib.parse.urlsplit(token_url)
            where = scrub(f"{parts.scheme}://{parts.netloc}{parts.path}")
            return RegistryError(
                f"cannot reach the token service {where} of registry {self.registry}: {reason}",
                hint="the registry names it in its WWW-Authenticate realm; check that it is up "
                     "and reachable from here")
        return RegistryError(f"cannot reach registry {self.registry}: {reason}",
                             hint="check that it is up and the address is right")

    def _authorise(self, challenge: Challenge, scope: str) -> str:
        credentials = self._lookup_credentials()
        if challenge.scheme == "basic":
            if credentials is None:
                raise RegistryError(f"registry {self.registry} asks for a login",
                                    hint=f"run `docker login {self.registry}`")
            return credentials.basic
        realm = challenge.params.get("realm")
        if not realm:
            raise RegistryError(f"registry {self.registry}: Bearer challenge without a realm")
        query = {"scope": challenge.params.get("scope", scope)}
        if "service" in challenge.params:
            query["service"] = challenge.params["service"]
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
        headers = {"Authorization": credentials.basic} if credentials else {}
        response = self._send("GET", url, headers, None, token_service=True)
        data = response.read()
        if response.status != 200:
            raise RegistryError(f"registry {self.registry}: token request refused "
                                f"({response.status})",
                                hint=f"check your login: `docker login {self.registry}`")
        try:
            answer: Any = json.loads(data)
            token = answer.get("token") or answer.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"registry {self.registry}: the token service answered "
                                "without a token")
        return f"Bearer {token}"

    def _lookup_credentials(self) -> Credentials | None:
        if self._credentials is True:
            self._credentials = find_credentials(self.registry)
        return self._credentials if isinstance(self._credentials, Credentials) else None

    def _error(self, method: str, url: str, response: http.client.HTTPResponse) -> RegistryError:
        body = response.read(65536) if method != "HEAD" else b""
        detail = ""
        try:
            errors = json.loads(body).get("errors") or []
            detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
        except (ValueError, AttributeError):
            detail = body.decode("utf-8", errors="replace").strip()[:200]
        path = urllib.parse.urlsplit(url).path
        text = f"registry {self.registry}: {method} {path}: {response.status} {response.reason}"
        if detail:
            text += f" ({detail})"
        if response.status == 404:
            return NotFound(text)
        if response.status in (401, 403):
            return RegistryError(text, hint=f"check your login (`docker login "
                                            f"{self.registry}`) and your rights on the "
                                            "repository")
        return RegistryError(text)


def _with_query(location: str, **params: str) -> str:
    return location + ("&" if "?" in location else "?") + urllib.parse.urlencode(params)


def open_registry(ref: Reference) -> DistributionRegistry:
    return DistributionRegistry(ref.registry, plain_http=ref.plain_http)
