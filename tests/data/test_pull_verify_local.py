"""`data pull` and `data verify` against a local source."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from envbuild.data.cache import BlobCache
from tests.data.helpers import lock, make_tree, spec
from tests.helpers import run_cli

FILES = {"a.txt": b"alpha", "sub/b.bin": os.urandom(300_000), "sub/c": b"", "dup": b"alpha"}


@pytest.fixture
def locked(tmp_path: Path) -> Path:
    make_tree(tmp_path / "ds", FILES)
    lock(tmp_path, {"ds": spec("ds", "ds")})
    return tmp_path


def data(tmp: Path, *args: str) -> list[str]:
    return ["data", *args, "-f", str(tmp / "envbuild.toml")]


def test_pull_then_verify(locked: Path, _isolated_cache: Path) -> None:
    result = run_cli(data(locked, "pull", "--to", str(locked / "out"), "--json"))
    assert result.code == 0, result.err
    report = json.loads(result.out)["datasets"]["ds"]
    assert report["files"] == 4 and report["downloaded"] == 3  # "dup" shares a blob
    for name, content in FILES.items():
        assert (locked / "out" / "ds" / name).read_bytes() == content
    assert "dataset ds: downloading: 3/3 files" in result.err
    verified = run_cli(data(locked, "verify", "ds", "--path", str(locked / "out" / "ds")))
    assert verified.code == 0, verified.err
    assert verified.out == f"ds: ok, 4 files match ({locked}/out/ds)\n"
    again = run_cli(data(locked, "pull", "--to", str(locked / "out"), "--json"))
    assert json.loads(again.out)["datasets"]["ds"]["downloaded"] == 0
    blobs = list((_isolated_cache / "blobs" / "blake3").rglob("*"))
    assert sum(p.is_file() for p in blobs) == 3


def test_verify_lists_missing_extra_changed(locked: Path) -> None:
    run_cli(data(locked, "pull", "--to", str(locked / "out")))
    copy = locked / "out" / "ds"
    (copy / "a.txt").unlink()
    (copy / "extra").write_bytes(b"x")
    (copy / "sub" / "c").write_bytes(b"now not empty")
    result = run_cli(data(locked, "verify", "ds", "--path", str(copy)))
    assert result.code == 1
    assert result.out == (
        f"ds: differs from the lock ({copy})\n"
        "  missing  a.txt\n"
        "  extra    extra\n"
        "  changed  sub/c: expected 0 bytes, found 13 bytes\n"
    )
    assert "error: dataset ds differs from the lock" in result.err
    as_json = run_cli(data(locked, "verify", "--json", "ds", "--path", str(copy)))
    assert as_json.code == 1
    document = json.loads(as_json.out)
    assert document["ok"] is False
    assert document["datasets"]["ds"]["missing"] == ["a.txt"]


def test_verify_catches_edit_keeping_size_and_mtime(locked: Path) -> None:
    target = locked / "ds" / "sub" / "b.bin"
    st = target.stat()
    content = bytearray(target.read_bytes())
    content[100] ^= 0xFF
    target.write_bytes(bytes(content))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    result = run_cli(data(locked, "verify"))
    assert result.code == 1
    assert "  changed  sub/b.bin: expected blake3:" in result.out


def test_verify_reads_mount_when_present(tmp_path: Path) -> None:
    make_tree(tmp_path / "ds", {"a": b"1"})
    mount = tmp_path / "mnt"
    lock(tmp_path, {"ds": spec("ds", "ds", mount=str(mount))})
    pulled = run_cli(data(tmp_path, "pull"))
    assert pulled.code == 0, pulled.err
    assert (mount / "a").read_bytes() == b"1"
    (mount / "a").write_bytes(b"2")
    result = run_cli(data(tmp_path, "verify"))
    assert result.code == 1
    assert f"({mount})" in result.out


def test_source_changed_after_locking_exposes_nothing(locked: Path, _isolated_cache: Path) -> None:
    (locked / "ds" / "sub" / "b.bin").write_bytes(b"different content")
    result = run_cli(data(locked, "pull", "--to", str(locked / "out")))
    assert result.code == 1
    assert "error: dataset ds: 1 file(s) at ds changed since locking; nothing of this dataset " in (result.err)
    assert "  sub/b.bin: expected 300000 bytes with blake3:" in result.err
    assert "got 17 bytes with blake3:" in result.err
    assert "hint: restore the source, or run `envbuild lock` to pin the new content" in result.err
    assert not (locked / "out").exists()
    assert not list((_isolated_cache / "partial").iterdir())


def test_resume_from_partial_download(locked: Path, _isolated_cache: Path) -> None:
    from envbuild.data.listing import parse_listing

    listing = parse_listing((locked / "envbuild.lock.d/datasets/ds.listing").read_bytes(), where="x")
    big = next(e for e in listing.entries if e.path == "sub/b.bin")
    cache = BlobCache(_isolated_cache)
    partial = cache.partial("blake3", big.hash)
    partial.parent.mkdir(parents=True)
    partial.write_bytes(FILES["sub/b.bin"][:123_456])  # what an interrupted pull left
    result = run_cli(data(locked, "pull", "--to", str(locked / "out")))
    assert result.code == 0, result.err
    assert cache.blob("blake3", big.hash).read_bytes() == FILES["sub/b.bin"]
    assert not partial.exists()


def test_corrupt_partial_is_discarded_and_never_exposed(locked: Path, _isolated_cache: Path) -> None:
    from envbuild.data.listing import parse_listing

    listing = parse_listing((locked / "envbuild.lock.d/datasets/ds.listing").read_bytes(), where="x")
    big = next(e for e in listing.entries if e.path == "sub/b.bin")
    partial = BlobCache(_isolated_cache).partial("blake3", big.hash)
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"garbage" * 10)
    first = run_cli(data(locked, "pull", "--to", str(locked / "out")))
    assert first.code == 1
    assert not (locked / "out").exists() and not partial.exists()
    assert run_cli(data(locked, "pull", "--to", str(locked / "out"))).code == 0


def test_cache_only_without_destination(locked: Path, tmp_path: Path) -> None:
    cache = tmp_path / "my-cache"
    result = run_cli(data(locked, "pull", "--cache-dir", str(cache)))
    assert result.code == 0, result.err
    assert "verified in the cache (no --to, no mount)" in result.err
    assert (cache / "blobs" / "blake3").is_dir()


def test_unknown_dataset_and_missing_lock(locked: Path, tmp_path: Path) -> None:
    unknown = run_cli(data(locked, "pull", "nope"))
    assert unknown.code == 2
    assert f"error: no dataset 'nope' in {locked}/envbuild.lock" in unknown.err
    assert "hint: locked datasets: ds" in unknown.err
    missing = run_cli(["data", "verify", "--lock", str(tmp_path / "none.lock")])
    assert missing.code == 2
    assert f"error: lock file {tmp_path}/none.lock does not exist" in missing.err


def test_path_needs_one_dataset(locked: Path) -> None:
    make_tree(locked / "two", {"x": b"x"})
    lock(locked, {"ds": spec("ds", "ds"), "two": spec("two", "two")})
    result = run_cli(data(locked, "verify", "--path", str(locked / "ds")))
    assert result.code == 2
    assert "error: --path reads one dataset; name it" in result.err


@contextlib.contextmanager
def unprivileged() -> Iterator[None]:
    """Root reads every file: act as nobody for the block, as an ordinary user would."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(65534)
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def test_permission_denied_is_reported() -> None:
    with tempfile.TemporaryDirectory() as tmp:  # outside pytest's root-only tmp folder
        root = make_tree(Path(tmp) / "perm", {"ok": b"1", "secret": b"2"})
        for folder in (Path(tmp), root):
            folder.chmod(0o755)
        (root / "secret").chmod(0o000)
        with unprivileged():
            result = run_cli(["data", "hash", str(root)])
    assert result.code == 2, result.err
    assert result.err == (f"error: permission denied reading {root}/secret\nhint: grant read access to it\n")


def test_pull_never_writes_through_a_symlink_out_of_the_destination(locked: Path) -> None:
    """A folder on the way that is a symlink (planted, or left by an earlier tool) must not
    carry the pulled files outside the destination."""
    outside = locked / "outside"
    outside.mkdir()
    (outside / "b.bin").write_bytes(b"keep")
    (locked / "out" / "ds").mkdir(parents=True)
    (locked / "out" / "ds" / "sub").symlink_to(outside)
    result = run_cli(data(locked, "pull", "--to", str(locked / "out")))
    assert result.code == 2
    assert f'error: listed file "sub/b.bin" resolves outside {locked / "out" / "ds"}' in result.err
    assert (outside / "b.bin").read_bytes() == b"keep" and [p.name for p in outside.iterdir()] == ["b.bin"]
