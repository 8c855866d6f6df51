"""The portable runtime's twins: `escape` agrees with envbuild's, and what envbuild-runtime
prints and reads is escaped and bounded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from envbuild.runtime.main import main
from envbuild.runtime.safetext import MAX_INPUT_BYTES, escape
from envbuild.scrub import escape as envbuild_escape

SAMPLES = [chr(c) for c in (*range(0x0, 0x250), *range(0x2000, 0x2070), 0xFEFF, 0xFFFE, 0x1F600,
                            0xE0001, 0x10FFFD)]


def test_escape_is_the_twin_of_envbuilds() -> None:
    text = "".join(SAMPLES)
    assert escape(text) == envbuild_escape(text)
    assert escape("a\x1b[2J\u202eb\n\tc") == "a\\x1b[2J\\u202eb\n\tc"


def _runtime_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(argv, environ={})
    err = capsys.readouterr().err
    assert code == 2
    return err.splitlines()[0]


def test_target_json_fifo_is_refused_without_blocking(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "target.json"
    os.mkfifo(fifo)
    assert _runtime_error(["verify", "--target-json", str(fifo)], capsys) == (
        f"error: {fifo}: cannot read the target document: not a regular file")


def test_target_json_device_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert _runtime_error(["verify", "--target-json", "/dev/zero"], capsys) == (
        "error: /dev/zero: cannot read the target document: not a regular file")


def test_target_json_over_the_bound_is_refused(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    big = tmp_path / "target.json"
    big.write_text("{}")
    os.truncate(big, MAX_INPUT_BYTES + 1)
    assert _runtime_error(["verify", "--target-json", str(big)], capsys) == (
        f"error: {big}: cannot read the target document: {MAX_INPUT_BYTES + 1} bytes, more than "
        f"the {MAX_INPUT_BYTES} bytes envbuild reads")


def test_target_json_nested_thousands_deep_is_refused(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    deep = tmp_path / "target.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    assert _runtime_error(["verify", "--target-json", str(deep)], capsys).startswith(
        f"error: {deep}: cannot read the target document: maximum recursion depth exceeded")


def test_runtime_messages_are_escaped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hostile = tmp_path / "t\x1b[2J\u202e.json"
    hostile.write_text("{}")
    assert _runtime_error(["verify", "--target-json", str(hostile)], capsys) == (
        f"error: {tmp_path}/t\\x1b[2J\\u202e.json: expected a target document with 'target' "
        "and 'table'")
