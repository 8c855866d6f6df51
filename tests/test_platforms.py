"""Platform spellings and the CPython minors a manifest may name (envbuild/platforms.py)."""

from __future__ import annotations

import pytest

from envbuild.platforms import PLATFORMS, canonical_platform, platform_of_arch, python_problem


@pytest.mark.parametrize(("written", "canonical"), [
    ("linux/x86_64", "linux/amd64"), ("linux/aarch64", "linux/arm64"), ("Linux/AMD64", "linux/amd64"),
    ("linux/arm64/v8", "linux/arm64"), ("darwin/x86_64", "darwin/amd64"), ("macos/aarch64", "darwin/arm64"),
    ("linux/armv7", None), ("windows/amd64", None), ("x86_64", None), ("", None),
])
def test_platform_aliases_map_to_one_spelling(written: str, canonical: str | None) -> None:
    assert canonical_platform(written) == canonical


def test_every_canonical_platform_is_its_own_spelling() -> None:
    assert [canonical_platform(p) for p in PLATFORMS] == list(PLATFORMS)


def test_a_bare_machine_name_suggests_linux() -> None:
    assert platform_of_arch("aarch64") == "linux/arm64"
    assert platform_of_arch("x86_64") == "linux/amd64"
    assert platform_of_arch("sparc") is None


@pytest.mark.parametrize(("python", "problem"), [
    ("3.8", None), ("3.14", None),
    ("3.99", '"3.99" is not a released CPython minor envbuild supports (3.8 to 3.14). Fix: python = "3.14"'),
    ("3.7", '"3.7" is not a released CPython minor envbuild supports (3.8 to 3.14). Fix: python = "3.8"'),
    ("3", '"3" is not a released CPython minor envbuild supports (3.8 to 3.14). Fix: python = "3.14"'),
    ("three", '"three" is not a released CPython minor envbuild supports (3.8 to 3.14). Fix: python = "3.14"'),
    ("3.11.9", '"3.11.9" names a patch release; envbuild locks for a CPython minor. Fix: python = "3.11"'),
    ("3.\u00b9\u00b9", '"3.\u00b9\u00b9" is not a released CPython minor envbuild supports (3.8 to 3.14). '
                       'Fix: python = "3.14"'),
])
def test_python_must_be_a_released_minor(python: str, problem: str | None) -> None:
    assert python_problem(python) == problem
