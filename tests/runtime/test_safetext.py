"""The one `escape` and bounded read (shared by envbuild and the portable runtime), and
what envbuild-runtime prints and reads is escaped and bounded."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import pytest

from envbuild.runtime.main import main
from envbuild.runtime.safetext import MAX_INPUT_BYTES, escape
from envbuild.scrub import escape as envbuild_escape

SAMPLES = [chr(c) for c in (*range(0x0, 0x250), *range(0x2000, 0x2070), 0xFEFF, 0xFFFE, 0x1F600,
                            0xE0001, 0x10FFFD)]


def test_escape_makes_every_control_and_format_character_visible() -> None:
    assert envbuild_escape is escape  # envbuild's messages use this very function
    hidden = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")  # control, format, unassigned, separators
    for c in SAMPLES:
        shown = escape(c)
        if c in "\n\t" or unicodedata.category(c) not in hidden:
            assert shown == c, repr(c)
        else:
            assert shown.startswith("\\") and shown.isascii() and shown.isprintable(), repr(c)
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
        f"error: {fifo}: cannot read the target document: a FIFO, not a regular file")


def test_target_json_device_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert _runtime_error(["verify", "--target-json", "/dev/zero"], capsys) == (
        "error: /dev/zero: cannot read the target document: a device, not a regular file")


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
