"""The dataset digest covers content only: paths, sizes, per-file hashes."""

from __future__ import annotations

import os
import shutil
import socket
import stat
from pathlib import Path

import pytest

from envbuild.canonical import canonical_bytes
from envbuild.data.digest import FileEntry, dataset_digest, parse_digest, rows_bytes
from envbuild.data.filters import make_filter
from envbuild.data.hashing import hash_local
from envbuild.errors import InputError, ProblemsError
from tests.data.helpers import make_tree

FILES = {"a.txt": b"alpha", "sub/b.bin": bytes(range(256)) * 100, "sub/deep/c": b"", "z": b"z"}
KEEP_ALL = make_filter([])


def digest_of(root: Path, algorithm: str = "blake3", include: tuple[str, ...] = ()) -> str:
    return hash_local(root, algorithm=algorithm, include=make_filter(include)).digest()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "ds", FILES)


def test_digest_format(tree: Path) -> None:
    for algorithm in ("blake3", "sha256"):
        text = digest_of(tree, algorithm)
        assert parse_digest(text)[0] == algorithm
        assert text == text.lower()


def test_unchanged_by_touch(tree: Path) -> None:
    before = digest_of(tree)
    for path in tree.rglob("*"):
        os.utime(path, (1, 1))
    assert digest_of(tree) == before


def test_unchanged_by_copy_elsewhere(tree: Path, tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(tree, copy)
    assert digest_of(copy) == digest_of(tree)


def test_unchanged_by_creation_order(tmp_path: Path) -> None:
    forward = make_tree(tmp_path / "f", FILES)
    backward = make_tree(tmp_path / "b", dict(reversed(list(FILES.items()))))
    assert digest_of(forward) == digest_of(backward)


@pytest.mark.parametrize(
    "change",
    ["edit-one-byte", "rename", "add", "remove", "add-empty", "move-to-subfolder"],
)
def test_changed_by(tree: Path, change: str) -> None:
    before = digest_of(tree)
    if change == "edit-one-byte":
        data = bytearray((tree / "sub/b.bin").read_bytes())
        data[1234] ^= 1
        (tree / "sub/b.bin").write_bytes(bytes(data))
    elif change == "rename":
        (tree / "a.txt").rename(tree / "a2.txt")
    elif change == "add":
        (tree / "new").write_bytes(b"new")
    elif change == "remove":
        (tree / "z").unlink()
    elif change == "add-empty":
        (tree / "empty").write_bytes(b"")
    else:
        (tree / "z").rename(tree / "sub" / "z")
    assert digest_of(tree) != before


def test_algorithms_differ(tree: Path) -> None:
    assert digest_of(tree, "blake3").split(":")[1] != digest_of(tree, "sha256").split(":")[1]


def test_single_file_is_listed_under_its_name(tmp_path: Path) -> None:
    (tmp_path / "one.bin").write_bytes(b"payload")
    listing = hash_local(tmp_path / "one.bin", algorithm="blake3", include=KEEP_ALL)
    assert [(e.path, e.size) for e in listing.entries] == [("one.bin", 7)]
    make_tree(tmp_path / "dir", {"one.bin": b"payload"})
    assert digest_of(tmp_path / "dir") == listing.digest()


def test_large_file_takes_the_mapped_path(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(os.urandom(17 << 20))
    from blake3 import blake3

    listing = hash_local(big, algorithm="blake3", include=KEEP_ALL)
    assert listing.entries[0].hash == blake3(big.read_bytes()).hexdigest()
    sha = hash_local(big, algorithm="sha256", include=KEEP_ALL).entries[0].hash
    import hashlib

    assert sha == hashlib.sha256(big.read_bytes()).hexdigest()


def test_include_filters(tree: Path) -> None:
    listing = hash_local(tree, algorithm="blake3", include=make_filter(["sub/**"]))
    assert [e.path for e in listing.entries] == ["sub/b.bin", "sub/deep/c"]


def test_rows_bytes_is_canonical() -> None:
    rows = [['é/ü \n"x"', 3, "ab"], ["b", 0, "cd"]]
    assert rows_bytes(rows) == canonical_bytes(rows)


def test_digest_ignores_entry_order() -> None:
    entries = [FileEntry(path=p, size=1, hash="0" * 64) for p in ("b", "a", "c/d")]
    assert dataset_digest("blake3", entries) == dataset_digest("blake3", reversed(entries))


def test_symlink_inside_root_is_followed(tree: Path) -> None:
    before = digest_of(tree)
    (tree / "link").symlink_to("a.txt")
    listing = hash_local(tree, algorithm="blake3", include=KEEP_ALL)
    assert {e.path: e.hash for e in listing.entries}["link"] == next(
        e.hash for e in listing.entries if e.path == "a.txt"
    )
    assert listing.digest() != before


def refusal(root: Path) -> str:
    with pytest.raises(ProblemsError) as caught:
        hash_local(root, algorithm="blake3", include=KEEP_ALL)
    assert caught.value.exit_code == 2
    return caught.value.message


def test_symlink_outside_root_is_refused(tree: Path, tmp_path: Path) -> None:
    (tmp_path / "secret").write_bytes(b"s")
    (tree / "escape").symlink_to(tmp_path / "secret")
    message = refusal(tree)
    assert f"{tree}/escape: is a symlink to {tmp_path}/secret, outside the dataset root" in message


def test_socket_fifo_and_dangling_link_are_refused_together(tree: Path) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tree / "sock"))
        os.mkfifo(tree / "fifo")
        (tree / "dangling").symlink_to(tree / "nowhere")
        message = refusal(tree)
    assert message.startswith("3 problems found")
    assert f"{tree}/sock: is a socket; only regular files can be hashed" in message
    assert f"{tree}/fifo: is a FIFO; only regular files can be hashed" in message
    assert f"{tree}/dangling: is a dangling symlink" in message


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a device node needs root")
def test_device_is_refused(tree: Path) -> None:
    os.mknod(tree / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    assert f"{tree}/null: is a device" in refusal(tree)


def test_symlink_to_folder_is_refused(tree: Path) -> None:
    (tree / "loop").symlink_to(tree / "sub")
    assert "is a symlink to a folder" in refusal(tree)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        hash_local(tmp_path / "nope", algorithm="blake3", include=KEEP_ALL)


def test_unchanged_by_directory_enumeration_order(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = digest_of(tree)
    real_scandir = os.scandir

    class Reversed:
        """os.scandir with its entries in the opposite order, as another file system may."""

        def __init__(self, path: str) -> None:
            with real_scandir(path) as entries:
                self.entries = list(entries)[::-1]

        def __enter__(self) -> list[os.DirEntry[str]]:
            return self.entries

        def __exit__(self, *exc: object) -> None:
            pass

    monkeypatch.setattr(os, "scandir", Reversed)
    assert digest_of(tree) == before
