"""An unreachable token service is named as such, never as the registry that sent us there."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from envbuild.image.registry.distribution import DistributionRegistry
from envbuild.image.registry.interface import RegistryError, parse_reference


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def registry_with_dead_token_service() -> Iterator[tuple[str, int]]:
    """A registry that demands a Bearer token from a realm where nothing listens."""
    dead = closed_port()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            self.send_response(401)
            self.send_header("WWW-Authenticate",
                             f'Bearer realm="http://127.0.0.1:{dead}/token?key=realm-secret",'
                             'service="dead",scope="repository:base/python:pull"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_HEAD

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}", dead
    server.shutdown()
    server.server_close()


def test_unreachable_token_service_is_named(
        registry_with_dead_token_service: tuple[str, int],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    address, dead = registry_with_dead_token_service
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))  # no credentials: an anonymous token
    registry = DistributionRegistry(address, plain_http=True, timeout=5)
    with pytest.raises(RegistryError) as caught:
        registry.manifest_digest(parse_reference(f"{address}/base/python:3.11"))
    registry.close()
    assert caught.value.exit_code == 3
    assert caught.value.message.startswith(
        f"cannot reach the token service http://127.0.0.1:{dead}/token of registry {address}: ")
    assert "realm-secret" not in caught.value.message
    assert caught.value.hint == ("the registry names it in its WWW-Authenticate realm; check "
                                 "that it is up and reachable from here")
