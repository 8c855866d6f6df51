"""Writes that cannot happen (a name too long for the file system) are bad input naming
the file, never "internal error"."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_cli

LONG = "d" * 300  # NAME_MAX is 255 on every Linux file system
GOOD = '[project]\nname = "x"\npython = "3.11"\n[targets.a]\nplatform = "linux/amd64"\n'
HINT = "hint: check the names in the manifest and the output path"


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "envbuild.toml"
    path.write_text(GOOD)
    return path


@pytest.fixture
def long_dataset_manifest(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("a")
    path = tmp_path / "envbuild.toml"
    path.write_text(GOOD + f'[datasets.{LONG}]\nsource = "data"\n')
    return path


def test_a_listing_name_too_long(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    listing = tmp_path / f"{LONG}.listing"
    result = run_cli(["data", "hash", str(tmp_path / "a.txt"), "-o", str(listing)])
    assert result.code == 2
    assert result.err.splitlines() == [f"error: {listing}: cannot write: File name too long", HINT]


def test_a_lock_name_too_long(manifest: Path, tmp_path: Path) -> None:
    lock = tmp_path / f"{LONG}.lock"
    result = run_cli(["lock", "-f", str(manifest), "--lock", str(lock)])
    assert result.code == 2
    assert result.err.splitlines() == [f"error: {lock}: cannot write: File name too long", HINT]
    checked = run_cli(["lock", "--check", "-f", str(manifest), "--lock", str(lock)])
    assert checked.code == 2
    assert checked.err.splitlines() == [f"error: {lock}: cannot read the lock: File name too long"]


def test_a_dataset_name_too_long_for_its_listing_file(long_dataset_manifest: Path,
                                                      tmp_path: Path) -> None:
    result = run_cli(["lock", "-f", str(long_dataset_manifest)])
    assert result.code == 2, result.err
    errors = [line for line in result.err.splitlines() if line.startswith(("error:", "hint:"))]
    assert errors == [f"error: {tmp_path}/envbuild.lock.d/datasets/{LONG}.listing: cannot write: "
                      "File name too long", HINT]
    assert not (tmp_path / "envbuild.lock").exists()
