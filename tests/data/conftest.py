"""Real servers for dataset tests: nginx (range requests, JSON index), a proxy that cuts
connections, and moto's S3 server. Everything listens on 127.0.0.1 only."""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own blob and hint cache."""
    cache = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.delenv("ENVBUILD_CACHE_DIR", raising=False)
    return cache / "envbuild"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_for_port(port: int, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


@dataclass
class Nginx:
    root: Path  # served folder (world-readable: workers run as nobody when we are root)
    url: str  # http://127.0.0.1:<port>/


_NGINX_CONF = """
daemon off;
worker_processes 1;
pid {run}/nginx.pid;
error_log {run}/error.log;
{user}
events {{ worker_connections 64; }}
http {{
    access_log {run}/access.log;
    client_body_temp_path {run}/body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
    types {{ application/octet-stream bin; }}
    server {{
        listen 127.0.0.1:{port};
        root {root};
        autoindex on;
        autoindex_format json;
    }}
}}
"""


@pytest.fixture(scope="session")
def nginx() -> Iterator[Nginx]:
    """nginx on a free port with its own config and pid file, stopped by its pid."""
    binary = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )
    if binary is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light); HTTP tests need it")
    run = Path(tempfile.mkdtemp(prefix="envbuild-nginx-"))
    root = run / "www"
    root.mkdir()
    for folder in (run, root):
        folder.chmod(0o755)
    port = free_port()
    user = "user nobody nogroup;" if os.geteuid() == 0 else ""
    conf = run / "nginx.conf"
    conf.write_text(_NGINX_CONF.format(run=run, root=root, port=port, user=user))
    process = subprocess.Popen([binary, "-p", str(run), "-c", str(conf)], stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port, process)
        yield Nginx(root=root, url=f"http://127.0.0.1:{port}/")
    finally:
        pid = int((run / "nginx.pid").read_text()) if (run / "nginx.pid").exists() else process.pid
        os.kill(pid, signal.SIGTERM)
        process.wait(timeout=10)
        shutil.rmtree(run, ignore_errors=True)


@dataclass
class CuttingProxy:
    """Forwards GETs to nginx; the first response for each path stops after `cut` bytes."""

    url: str
    ranges: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range)
    cut_done: set[str] = field(default_factory=set)

    def rearm(self) -> None:
        """Cut the next response for every path again."""
        self.cut_done.clear()
        self.ranges.clear()


@pytest.fixture
def cutting_proxy(nginx: Nginx) -> Iterator[CuttingProxy]:
    proxy = CuttingProxy(url="")
    cut_done = proxy.cut_done
    cut = 100_000

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            proxy.ranges.append((self.path, self.headers.get("Range")))
            headers = {k: v for k, v in self.headers.items() if k.lower() in ("range", "accept")}
            request = urllib.request.Request(nginx.url.rstrip("/") + self.path, headers=headers)
            try:
                upstream = urllib.request.urlopen(request, timeout=10)
            except urllib.error.HTTPError as error:
                upstream = error
            with upstream:
                body = upstream.read()
                self.send_response(upstream.status)
                for key in ("Content-Type", "Content-Range", "ETag", "Accept-Ranges"):
                    if upstream.headers.get(key):
                        self.send_header(key, upstream.headers[key])
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.path not in cut_done and len(body) > cut:
                    cut_done.add(self.path)
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class S3:
    endpoint: str
    client: object


@pytest.fixture(scope="session")
def _moto_server() -> Iterator[str]:
    pytest.importorskip("boto3", reason="boto3 is needed for the S3 tests")
    moto_server = pytest.importorskip("moto.server", reason="moto[server] is needed for S3 tests")
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    _wait_for_port(port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(_moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> S3:
    """The standard AWS configuration chain pointed at moto; no real credentials read."""
    import boto3

    empty = tmp_path / "no-aws-config"
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_ENDPOINT_URL", _moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return S3(endpoint=_moto_server, client=boto3.session.Session().client("s3"))
