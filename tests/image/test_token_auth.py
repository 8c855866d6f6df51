"""Bearer token auth against a real token service in front of the real test registry.

The front (a small HTTP server here) answers 401 with `WWW-Authenticate: Bearer realm=...`
until a request carries the token its /token endpoint hands out for the right basic
credentials, then relays the request to the test registry. envbuild finds the credentials
in a Docker config (`auths`), as a user's `docker login` leaves them.
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from envbuild.image.registry.distribution import DistributionRegistry
from envbuild.image.registry.interface import RegistryError, parse_reference
from tests.image.services import pushed_base, registry_address

pytestmark = pytest.mark.registry
TOKEN = "tok-123"
BASIC = "Basic " + base64.b64encode(b"alice:secret").decode()


def front(upstream: str) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _relay(self) -> None:
            host = self.headers["Host"]
            if self.path.startswith("/token"):
                ok = self.headers.get("Authorization") == BASIC
                body = json.dumps({"token": TOKEN}).encode() if ok else b"{}"
                self.send_response(200 if ok else 401)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self.send_response(401)
                self.send_header("WWW-Authenticate", f'Bearer realm="http://{host}/token",'
                                 'service="front",scope="repository:base/python:pull"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            connection = http.client.HTTPConnection(upstream)
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() in ("accept", "content-type")}
            connection.request(self.command, self.path, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
            connection.close()
            self.send_response(answer.status)
            for key in ("Content-Type", "Docker-Content-Digest"):
                if answer.getheader(key):
                    self.send_header(key, answer.getheader(key) or "")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_HEAD = _relay

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


@pytest.fixture
def token_front() -> Iterator[str]:
    address = registry_address()
    pushed_base(address)
    server = front(address)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_token_from_docker_config_credentials(token_front: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    address = registry_address()
    digest = pushed_base(address).rsplit("@", 1)[1]
    config = tmp_path / "docker" / "config.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"auths": {token_front: {
        "auth": base64.b64encode(b"alice:secret").decode()}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(config.parent))
    ref = parse_reference(f"{token_front}/base/python:3.11")
    registry = DistributionRegistry(token_front, plain_http=True)
    assert registry.manifest_digest(ref) == digest
    assert registry.get_manifest(ref.with_digest(digest)).digest == digest
    registry.close()


def test_wrong_credentials_are_refused_with_exit_3(token_front: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "docker" / "config.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"auths": {token_front: {
        "auth": base64.b64encode(b"alice:wrong").decode()}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(config.parent))
    registry = DistributionRegistry(token_front, plain_http=True)
    with pytest.raises(RegistryError) as caught:
        registry.manifest_digest(parse_reference(f"{token_front}/base/python:3.11"))
    assert caught.value.exit_code == 3
    assert f"registry {token_front}: token request refused (401)" in caught.value.message
