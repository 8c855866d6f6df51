"""`envbuild data hash` output and errors."""

from __future__ import annotations

import json
from pathlib import Path

from tests.data.helpers import make_tree
from tests.helpers import run_cli


def test_hash_prints_only_the_digest(tmp_path: Path) -> None:
    make_tree(tmp_path / "ds", {"a": b"1", "b/c": b"22"})
    result = run_cli(["data", "hash", str(tmp_path / "ds")])
    assert result.code == 0
    assert result.out.startswith("blake3:") and len(result.out) == len("blake3:") + 64 + 1


def test_hash_json_summary(tmp_path: Path) -> None:
    make_tree(tmp_path / "ds", {"a": b"1", "b/c": b"22", "b/d.JPEG": b"333"})
    result = run_cli(
        ["data", "hash", str(tmp_path / "ds"), "--json", "--algorithm", "sha256", "--include", "**/*.JPEG"]
    )
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["files"] == 1 and document["size"] == 3
    assert document["digest"].startswith("sha256:")
    assert document["algorithm"] == "sha256"


def test_hash_refuses_escaping_symlink_without_traceback(tmp_path: Path) -> None:
    make_tree(tmp_path / "ds", {"a": b"1"})
    (tmp_path / "ds" / "out").symlink_to("/etc/hostname")
    result = run_cli(["data", "hash", str(tmp_path / "ds")])
    assert result.code == 2
    assert result.out == ""
    assert "Traceback" not in result.err
    assert result.err.startswith("error: 1 problem found\n")
    assert "outside the dataset root; copy the file in instead" in result.err
    assert "hint: a dataset holds regular files only" in result.err


def test_hash_missing_path(tmp_path: Path) -> None:
    result = run_cli(["data", "hash", str(tmp_path / "nope")])
    assert result.code == 2
    assert f"error: dataset path {tmp_path}/nope does not exist" in result.err


def test_bad_include(tmp_path: Path) -> None:
    make_tree(tmp_path / "ds", {"a": b"1"})
    result = run_cli(["data", "hash", str(tmp_path / "ds"), "--include", "/abs"])
    assert result.code == 2
    assert "include pattern '/abs': patterns are relative" in result.err


def test_a_path_that_cannot_be_read_is_bad_input_not_a_crash(tmp_path: Path) -> None:
    too_long = tmp_path / ("x" * 300)
    result = run_cli(["data", "hash", str(too_long)])
    assert (result.code, result.err) == (2, f"error: dataset path {too_long}: File name too long\n")
    (tmp_path / "file").write_text("x")
    result = run_cli(["data", "hash", str(tmp_path / "file" / "below")])
    assert (result.code, result.err) == (2, f"error: dataset path {tmp_path}/file/below: Not a directory\n")
