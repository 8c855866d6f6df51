"""The HTTP(S) source against a real nginx on 127.0.0.1 (range requests, JSON index)."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from envbuild.data.filters import make_filter
from envbuild.data.hashing import hash_local
from envbuild.errors import ExternalError
from tests.data.conftest import CuttingProxy, Nginx
from tests.data.helpers import hashed_count, lock, make_tree, spec
from tests.helpers import run_cli

pytestmark = pytest.mark.http

FILES = {"a.txt": b"alpha", "sub/b.bin": os.urandom(400_000), "sub/deep/c d.txt": b"spaces"}


@pytest.fixture
def served(nginx: Nginx) -> Iterator[tuple[Path, str]]:
    """A fresh folder under nginx's root and its URL (ending in '/')."""
    name = uuid.uuid4().hex
    folder = make_tree(nginx.root / name, FILES)
    yield folder, f"{nginx.url}{name}/"
    shutil.rmtree(folder, ignore_errors=True)


def data(tmp: Path, *args: str) -> list[str]:
    return ["data", *args, "-f", str(tmp / "envbuild.toml")]


def test_http_folder_digest_equals_local_digest(tmp_path: Path, served: tuple[Path, str]) -> None:
    folder, url = served
    tables = lock(tmp_path, {"web": spec("web", url)})
    local = hash_local(folder, algorithm="blake3", include=make_filter([])).digest()
    assert tables["web"]["digest"] == local
    assert tables["web"]["files"] == 3


def test_pull_and_verify_over_http(tmp_path: Path, served: tuple[Path, str]) -> None:
    _, url = served
    lock(tmp_path, {"web": spec("web", url, include=("sub/**",))})
    pulled = run_cli(data(tmp_path, "pull", "--to", str(tmp_path / "out")))
    assert pulled.code == 0, pulled.err
    assert (tmp_path / "out/web/sub/deep/c d.txt").read_bytes() == b"spaces"
    assert not (tmp_path / "out/web/a.txt").exists()
    verified = run_cli(data(tmp_path, "verify", "--json"))
    assert verified.code == 0, verified.err
    assert json.loads(verified.out)["datasets"]["web"]["location"] == url


def test_single_file_over_http(tmp_path: Path, served: tuple[Path, str]) -> None:
    _, url = served
    tables = lock(tmp_path, {"one": spec("one", url + "sub/b.bin")})
    assert tables["one"]["files"] == 1 and tables["one"]["size"] == 400_000
    assert run_cli(data(tmp_path, "pull", "--to", str(tmp_path / "o"))).code == 0
    assert (tmp_path / "o/one/b.bin").read_bytes() == FILES["sub/b.bin"]


def test_relock_trusts_portable_hints_from_the_listing(
    tmp_path: Path, served: tuple[Path, str], _isolated_cache: Path
) -> None:
    folder, url = served
    first = lock(tmp_path, {"web": spec("web", url)})
    shutil.rmtree(_isolated_cache.parent, ignore_errors=True)  # a fresh clone elsewhere
    messages: list[str] = []
    assert lock(tmp_path, {"web": spec("web", url)}, previous=first, messages=messages) == first
    assert hashed_count(messages) == 0
    (folder / "a.txt").write_bytes(b"ALPHA!")
    messages.clear()
    changed = lock(tmp_path, {"web": spec("web", url)}, previous=first, messages=messages)
    assert hashed_count(messages) == 1
    assert changed["web"]["digest"] != first["web"]["digest"]


def test_connection_cut_mid_file_resumes_with_a_range_request(
    tmp_path: Path, served: tuple[Path, str], cutting_proxy: CuttingProxy, nginx: Nginx
) -> None:
    folder, url = served
    proxied = url.replace(nginx.url, cutting_proxy.url)
    path = "/" + proxied.removeprefix(cutting_proxy.url) + "sub/b.bin"
    tables = lock(tmp_path, {"web": spec("web", proxied)})  # hashing resumes too
    assert (path, "bytes=100000-") in cutting_proxy.ranges
    assert tables["web"]["digest"] == hash_local(folder, algorithm="blake3", include=make_filter([])).digest()
    cutting_proxy.rearm()
    result = run_cli(data(tmp_path, "pull", "--to", str(tmp_path / "out")))
    assert result.code == 0, result.err
    assert (tmp_path / "out/web/sub/b.bin").read_bytes() == FILES["sub/b.bin"]
    assert (path, None) in cutting_proxy.ranges
    assert (path, "bytes=100000-") in cutting_proxy.ranges


def test_file_changed_at_source_after_locking(tmp_path: Path, served: tuple[Path, str]) -> None:
    folder, url = served
    lock(tmp_path, {"web": spec("web", url)})
    (folder / "sub" / "b.bin").write_bytes(os.urandom(400_000))
    result = run_cli(data(tmp_path, "pull", "--to", str(tmp_path / "out")))
    assert result.code == 1
    assert f"error: dataset web: 1 file(s) at {url} changed since locking" in result.err
    assert "  sub/b.bin: expected 400000 bytes with blake3:" in result.err
    assert not (tmp_path / "out").exists()


def test_file_deleted_at_source(tmp_path: Path, served: tuple[Path, str]) -> None:
    folder, url = served
    lock(tmp_path, {"web": spec("web", url)})
    (folder / "a.txt").unlink()
    result = run_cli(data(tmp_path, "pull", "--to", str(tmp_path / "out")))
    assert result.code == 3
    assert f"error: dataset web: {url}a.txt not found (HTTP 404)" in result.err
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="nginx workers run as nobody only under root")
def test_permission_denied(tmp_path: Path, served: tuple[Path, str]) -> None:
    folder, url = served
    (folder / "a.txt").chmod(0o000)
    with pytest.raises(ExternalError) as caught:
        lock(tmp_path, {"web": spec("web", url + "a.txt")})
    assert caught.value.message == f"permission denied (HTTP 403) for {url}a.txt"
    assert caught.value.exit_code == 3


def test_unreachable_server(tmp_path: Path) -> None:
    from tests.data.conftest import free_port

    url = f"http://127.0.0.1:{free_port()}/x/"
    with pytest.raises(ExternalError, match=f"cannot reach {url}"):
        lock(tmp_path, {"web": spec("web", url)})
