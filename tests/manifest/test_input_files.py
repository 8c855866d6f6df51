"""The manifest path may name anything: each hostile kind is refused with exit 2 and an
exact message, never a hang, a traceback or "internal error"."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from envbuild.inputfiles import MAX_INPUT_BYTES, MAX_TOML_DEPTH
from tests.helpers import run_cli

GOOD = '[project]\nname = "x"\npython = "3.11"\n[targets.a]\nplatform = "linux/amd64"\n'


@pytest.fixture
def fifo_manifest(tmp_path: Path) -> Path:
    path = tmp_path / "envbuild.toml"
    os.mkfifo(path)  # no writer: a plain read would block forever
    return path


@pytest.fixture
def oversized_manifest(tmp_path: Path) -> Path:
    path = tmp_path / "envbuild.toml"
    path.write_text(GOOD)
    os.truncate(path, MAX_INPUT_BYTES + 1)  # sparse: costs no disk
    return path


@pytest.fixture
def deep_manifest(tmp_path: Path) -> Path:
    path = tmp_path / "envbuild.toml"
    path.write_text(GOOD + "a = " + "[" * 5000 + "]" * 5000 + "\n")
    return path


@pytest.fixture
def folder_manifest(tmp_path: Path) -> Path:
    path = tmp_path / "envbuild.toml"
    path.mkdir()
    return path


def _refused(args: list[str]) -> list[str]:
    result = run_cli(args)
    assert result.code == 2, result.err
    assert "internal error" not in result.err and "Traceback" not in result.err
    assert result.out == ""
    return result.err.splitlines()


@pytest.mark.parametrize("command", [["lock"], ["lock", "--check"], ["export", "--format", "pylock"],
                                     ["cluster"], ["image", "--offline"]])
def test_a_fifo_is_refused_without_blocking(command: list[str], fifo_manifest: Path) -> None:
    assert _refused([*command, "-f", str(fifo_manifest)]) == [
        f"error: {fifo_manifest}: the manifest is a FIFO, not a regular file",
        "hint: pass the path of a manifest file",
    ]


@pytest.mark.parametrize("command", [["lock"], ["lock", "--check"]])
def test_dev_zero_is_refused_without_reading_it(command: list[str]) -> None:
    assert _refused([*command, "-f", "/dev/zero"]) == [
        "error: /dev/zero: the manifest is a device, not a regular file",
        "hint: pass the path of a manifest file",
    ]


def test_a_manifest_over_the_bound_is_refused(oversized_manifest: Path) -> None:
    assert _refused(["lock", "-f", str(oversized_manifest)]) == [
        f"error: {oversized_manifest}: the manifest is {MAX_INPUT_BYTES + 1} bytes, more than the "
        f"{MAX_INPUT_BYTES} bytes envbuild reads",
        "hint: is this really a manifest?",
    ]


def test_toml_nested_thousands_deep_is_refused(deep_manifest: Path) -> None:
    assert _refused(["lock", "-f", str(deep_manifest)]) == [
        "error: envbuild.toml: the manifest nests values 5000 levels deep, more than the "
        f"{MAX_TOML_DEPTH} envbuild reads",
    ]


def test_a_folder_is_refused(folder_manifest: Path) -> None:
    # click refuses it while parsing (dir_okay=False); the reader would too.
    assert _refused(["lock", "-f", str(folder_manifest)])[-1] == (
        f"Error: Invalid value for '-f' / '--file': File '{folder_manifest}' is a directory.")


def test_a_missing_manifest_keeps_its_hint(tmp_path: Path) -> None:
    missing = tmp_path / "envbuild.toml"
    assert _refused(["lock", "-f", str(missing)]) == [
        f"error: {missing}: no such manifest",
        "hint: run envbuild in the folder holding envbuild.toml, or pass -f PATH",
    ]


def test_a_manifest_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "envbuild.toml"
    path.write_bytes(b'[project]\nname = "\xff"\n')
    assert _refused(["lock", "-f", str(path)]) == [
        f"error: {path}: the manifest is not UTF-8 text (byte 18)",
    ]


def test_control_and_bidi_characters_from_the_manifest_are_escaped(tmp_path: Path) -> None:
    path = tmp_path / "envbuild.toml"
    path.write_text('[project]\nname = "x"\npython = "3.11"\n'
                    '[targets."a\\u001b[2J\\u202eb"]\nplatform = "linux/amd64"\n'
                    '[datasets."d\\u001b[2J"]\nsource = "data"\n')
    lines = _refused(["lock", "-f", str(path)])
    assert lines[1:3] == [
        "envbuild.toml: datasets.d\\x1b[2J: dataset names use letters, digits, '.', '_' and '-'; "
        "rename it",
        'envbuild.toml: targets."a\\x1b[2J\\u202eb": invalid target name; use at most 40 lower-case '
        "letters, digits and '-', starting and ending with a letter or digit (it becomes a "
        "Kubernetes label value and a folder name), e.g. [targets.a-2j-b]",
    ]
    assert not any(c in "\n".join(lines) for c in "\x1b\u202e")
