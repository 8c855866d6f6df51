"""A file rewritten while it is hashed is hashed again, or the command fails with exit 1;
symlink loops are refused with exit 2; a long list of files hashed by forked workers
gives the same entries as one process."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from blake3 import blake3

from envbuild.data import hashing
from envbuild.data.digest import FileEntry, dataset_digest
from envbuild.data.workers import worker_count
from envbuild.errors import InputError
from tests.data.helpers import make_tree
from tests.helpers import run_cli

_HINT = "hint: it was written to twice while envbuild read it; hash it again once nothing writes to the dataset\n"


def rewrite_in_place(path: Path, content: bytes) -> None:
    """What a careless writer does: same size, new bytes, the old mtime put back. Repeats
    the mtime restore until ctime moved (ctime comes from a clock that ticks every few ms)."""
    before = path.stat()
    with path.open("r+b") as handle:
        handle.write(content)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    while path.stat().st_ctime_ns == before.st_ctime_ns:
        time.sleep(0.002)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


@pytest.fixture
def during_hashing(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Callable[[str], None]], None]]:
    """Run a writer at the seam between reading a file and its second stat."""

    def install(writer: Callable[[str], None]) -> None:
        monkeypatch.setattr(hashing, "after_read", writer)

    yield install


def _digest_of(tmp_path: Path, files: dict[str, bytes]) -> str:
    result = run_cli(["data", "hash", str(make_tree(tmp_path / "expected", files))])
    assert result.code == 0, result.err
    return result.out.strip()


@pytest.mark.parametrize("size", [4096, 3 << 20], ids=["one-read", "many-reads"])
def test_file_rewritten_once_is_hashed_again(
    tmp_path: Path, during_hashing: Callable[[Callable[[str], None]], None], size: int
) -> None:
    old, new = os.urandom(size), os.urandom(size)
    tree = make_tree(tmp_path / "ds", {"a.bin": old, "b.bin": b"stays"})
    want = _digest_of(tmp_path / "new", {"a.bin": new, "b.bin": b"stays"})
    assert want != _digest_of(tmp_path / "old", {"a.bin": old, "b.bin": b"stays"})
    calls: list[str] = []

    def once(abspath: str) -> None:
        calls.append(abspath)
        if abspath.endswith("a.bin") and calls.count(abspath) == 1:
            rewrite_in_place(Path(abspath), new)

    during_hashing(once)
    result = run_cli(["data", "hash", str(tree)])
    assert result.code == 0, result.err
    assert result.out.strip() == want
    assert calls.count(str(tree / "a.bin")) == 2  # read, changed, read again


@pytest.mark.parametrize("dataset", ["folder", "file"])
def test_file_rewritten_on_every_read_fails_with_exit_1(
    tmp_path: Path, during_hashing: Callable[[Callable[[str], None]], None], dataset: str
) -> None:
    tree = make_tree(tmp_path / "ds", {"a.bin": b"x" * 5000})
    target = tree / "a.bin"
    during_hashing(lambda abspath: rewrite_in_place(Path(abspath), os.urandom(5000)))
    result = run_cli(["data", "hash", str(tree if dataset == "folder" else target)])
    assert result.code == 1
    assert result.out == ""
    assert result.err == f"error: changed while hashing: {target}\n{_HINT}"


def test_touched_but_unchanged_file_is_not_an_error(
    tmp_path: Path, during_hashing: Callable[[Callable[[str], None]], None]
) -> None:
    """A chmod moves ctime too: the file is read again and, being unchanged, accepted."""
    tree = make_tree(tmp_path / "ds", {"a.bin": b"same"})
    want = _digest_of(tmp_path, {"a.bin": b"same"})
    created = (tree / "a.bin").stat()
    seen: list[str] = []

    def chmod_once(abspath: str) -> None:
        seen.append(abspath)
        path = Path(abspath)
        while len(seen) == 1 and path.stat().st_ctime_ns == created.st_ctime_ns:
            time.sleep(0.002)
            path.chmod(created.st_mode ^ 0o001)
            path.chmod(created.st_mode)

    during_hashing(chmod_once)
    result = run_cli(["data", "hash", str(tree)])
    assert result.code == 0, result.err
    assert result.out.strip() == want
    assert len(seen) == 2  # read again after the ctime moved


def test_symlink_loop_as_the_dataset_path(tmp_path: Path) -> None:
    loop = tmp_path / "ds"
    loop.symlink_to("ds")
    result = run_cli(["data", "hash", str(loop)])
    assert result.code == 2
    assert result.err == (
        f"error: dataset path {loop} is a symlink loop\nhint: point the link at the dataset itself\n"
    )


def test_symlink_loop_inside_the_dataset(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "ds", {"a": b"1"})
    (tree / "one").symlink_to("two")
    (tree / "two").symlink_to("one")
    result = run_cli(["data", "hash", str(tree)])
    assert result.code == 2
    assert result.err.startswith(
        "error: 2 problems found\n"
        f"{tree}/one: is a symlink loop; remove it or point it at a file\n"
        f"{tree}/two: is a symlink loop; remove it or point it at a file\n"
        "hint: a dataset holds regular files only"
    )


def _many_files(root: Path, count: int) -> list[tuple[str, str]]:
    files = make_tree(root, {f"d{i // 500:02d}/f{i:05d}": i.to_bytes(2, "big") * (i % 1500) for i in range(count)})
    return sorted((str(p.relative_to(files)), str(p)) for p in files.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def forked_tree(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str]]:
    """Enough files that the hashing is split between this process and a worker."""
    return _many_files(tmp_path_factory.mktemp("many"), 4200)


def test_workers_give_the_same_entries_as_one_process(forked_tree: list[tuple[str, str]]) -> None:
    if worker_count(len(forked_tree)) < 2:
        pytest.skip("one CPU: nothing is forked")
    progress: list[int] = []
    entries = hashing.hash_files(forked_tree, "blake3", on_file=progress.append)
    expected = [
        FileEntry(path=path, size=len(data), hash=blake3(data).hexdigest())
        for path, abspath in forked_tree
        for data in [Path(abspath).read_bytes()]
    ]
    assert entries == expected
    assert sorted(progress) == sorted(e.size for e in expected)
    assert dataset_digest("blake3", entries) == dataset_digest("blake3", expected)


def test_a_failing_worker_share_reports_the_usual_error(
    forked_tree: list[tuple[str, str]], tmp_path: Path
) -> None:
    if worker_count(len(forked_tree)) < 2:
        pytest.skip("one CPU: nothing is forked")
    gone = str(tmp_path / "gone")
    files = list(forked_tree)
    files[1] = ("gone", gone)  # index 1: the worker's share, not this process's
    with pytest.raises(InputError) as raised:
        hashing.hash_files(files, "blake3")
    assert raised.value.message == f"{gone} vanished while hashing"
