"""The pre-click `data hash FILE` answers exactly as the full command, or not at all."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from envbuild.data.fastpath import try_hash
from tests.helpers import run_cli


@pytest.mark.parametrize("algorithm", [None, "blake3", "sha256"])
@pytest.mark.parametrize("name", ["plain.bin", "é ü\nname"])
def test_same_digest_as_full_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], algorithm: str | None, name: str
) -> None:
    path = tmp_path / name
    path.write_bytes(os.urandom(70_000))
    option = ["--algorithm", algorithm] if algorithm else []
    assert try_hash(["data", "hash", *option, str(path)]) == 0
    fast = capsys.readouterr().out
    full = run_cli(["data", "hash", *option, str(path)])
    assert full.code == 0
    assert fast == full.out


@pytest.mark.parametrize(
    "argv",
    [
        ["data", "hash", "--json", "FILE"],
        ["data", "hash", "FILE", "--include", "x"],
        ["data", "hash", "DIR"],
        ["data", "hash", "MISSING"],
        ["data", "hash", "EMPTY"],
        ["data", "merge", "FILE"],
        ["data", "hash", "--algorithm", "md5", "FILE"],
    ],
)
def test_everything_else_falls_through(tmp_path: Path, argv: list[str]) -> None:
    (tmp_path / "FILE").write_bytes(b"x")
    (tmp_path / "EMPTY").write_bytes(b"")
    (tmp_path / "DIR").mkdir()
    resolved = [str(tmp_path / a) if a.isupper() else a for a in argv]
    assert try_hash(resolved) is None
