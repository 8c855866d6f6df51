"""Locking datasets: tables, listings beside the lock, hints, offline check."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from envbuild.data.listing import parse_listing
from envbuild.data.lockstate import check_locked, dataset_inputs, lock_datasets
from envbuild.errors import CheckFailed, InputError
from tests.data.helpers import hashed_count, lock, make_tree, spec


@pytest.fixture
def ds(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "ds", {f"f{i}": str(i).encode() for i in range(10)})


def test_lock_table_and_listing(tmp_path: Path, ds: Path) -> None:
    tables = lock(tmp_path, {"ds": spec("ds", "ds", include=("f*",), mount="/data/ds")})
    table = tables["ds"]
    assert table["listing"] == "envbuild.lock.d/datasets/ds.listing"
    assert table["files"] == 10 and table["size"] == 10
    assert table["source"] == "ds" and table["include"] == ["f*"] and table["mount"] == "/data/ds"
    listing = parse_listing((tmp_path / table["listing"]).read_bytes(), where="x")
    assert listing.digest() == table["digest"]
    assert all(e.hint is None for e in listing.entries)  # local hints stay machine-local


def test_relock_rehashes_only_changed_files(tmp_path: Path, ds: Path) -> None:
    specs = {"ds": spec("ds", "ds")}
    first_messages: list[str] = []
    first = lock(tmp_path, specs, messages=first_messages)
    assert hashed_count(first_messages) == 10
    listing = tmp_path / first["ds"]["listing"]
    written = listing.stat().st_mtime_ns
    again: list[str] = []
    assert lock(tmp_path, specs, previous=first, messages=again) == first
    assert hashed_count(again) == 0
    assert listing.stat().st_mtime_ns == written  # unchanged listing is not rewritten
    (ds / "f3").write_bytes(b"changed")
    third: list[str] = []
    tables = lock(tmp_path, specs, previous=first, messages=third)
    assert hashed_count(third) == 1
    assert tables["ds"]["digest"] != first["ds"]["digest"]


def test_edit_keeping_size_and_mtime_is_rehashed(tmp_path: Path, ds: Path) -> None:
    first = lock(tmp_path, {"ds": spec("ds", "ds")})
    target = ds / "f1"
    st = target.stat()
    time.sleep(0.01)
    target.write_bytes(b"X")  # same size
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    tables = lock(tmp_path, {"ds": spec("ds", "ds")}, previous=first)
    assert tables["ds"]["digest"] != first["ds"]["digest"]


def test_manifest_digest_verified(tmp_path: Path, ds: Path) -> None:
    actual = lock(tmp_path, {"ds": spec("ds", "ds")})["ds"]["digest"]
    assert lock(tmp_path, {"ds": spec("ds", "ds", digest=actual)})["ds"]["digest"] == actual
    wrong = "blake3:" + "0" * 64
    with pytest.raises(CheckFailed) as caught:
        lock(tmp_path, {"ds": spec("ds", "ds", digest=wrong)})
    assert caught.value.message == (
        f"dataset ds: the manifest pins digest {wrong}, but the content at ds has digest {actual}"
    )
    assert caught.value.exit_code == 1


def test_sha256_digest_in_manifest_selects_sha256(tmp_path: Path, ds: Path) -> None:
    with pytest.raises(CheckFailed, match="has digest sha256:"):
        lock(tmp_path, {"ds": spec("ds", "ds", digest="sha256:" + "0" * 64)})


def test_empty_selection_is_an_input_error(tmp_path: Path, ds: Path) -> None:
    with pytest.raises(InputError, match=r"dataset ds: no files at ds match include \['\*.x'\]"):
        lock(tmp_path, {"ds": spec("ds", "ds", include=("*.x",))})


def test_check_locked_offline(tmp_path: Path, ds: Path) -> None:
    specs = {"ds": spec("ds", "ds")}
    tables = lock(tmp_path, specs)
    lock_path = tmp_path / "envbuild.lock"
    assert check_locked(specs, tables, lock_path=lock_path) == []
    moved = {"ds": spec("ds", "ds", mount="/elsewhere")}
    assert check_locked(moved, tables, lock_path=lock_path) == ["dataset ds: its manifest entry changed"]
    assert check_locked({}, tables, lock_path=lock_path) == ["dataset ds is locked but no longer declared"]
    (tmp_path / tables["ds"]["listing"]).unlink()
    assert check_locked(specs, tables, lock_path=lock_path) == [
        "dataset ds: listing envbuild.lock.d/datasets/ds.listing is missing or unreadable"
    ]


def test_dataset_inputs_plain_data() -> None:
    assert dataset_inputs(spec("a", "s3://b/p/", include=("*.x",))) == {
        "digest": None,
        "include": ["*.x"],
        "mount": None,
        "source": "s3://b/p/",
    }


def test_removed_dataset_listing_is_deleted(tmp_path: Path, ds: Path) -> None:
    make_tree(tmp_path / "other", {"o": b"o"})
    lock(tmp_path, {"ds": spec("ds", "ds"), "other": spec("other", "other")})
    folder = tmp_path / "envbuild.lock.d" / "datasets"
    assert sorted(p.name for p in folder.iterdir()) == ["ds.listing", "other.listing"]
    lock_datasets(
        {"ds": spec("ds", "ds")},
        manifest_dir=tmp_path,
        lock_path=tmp_path / "envbuild.lock",
        previous=None,
        progress=lambda _: None,
    )
    assert sorted(p.name for p in folder.iterdir()) == ["ds.listing"]


def test_single_file_dataset(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"w" * 100)
    table = lock(tmp_path, {"w": spec("w", "weights.bin")})["w"]
    assert table["files"] == 1 and table["size"] == 100
