from __future__ import annotations

import pytest

from envbuild.data.filters import make_filter, pattern_problem


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("**/*.JPEG", "a.JPEG", True),
        ("**/*.JPEG", "x/y/a.JPEG", True),
        ("**/*.JPEG", "x/a.jpeg", False),
        ("*.txt", "a.txt", True),
        ("*.txt", "d/a.txt", False),
        ("train/**", "train/a/b", True),
        ("train/**", "train", False),
        ("train/**", "trainx/a", False),
        ("a/**/b", "a/b", True),
        ("a/**/b", "a/x/y/b", True),
        ("file?.bin", "file1.bin", True),
        ("file?.bin", "file/.bin", False),
        ("[ab]*", "beta", True),
        ("[!ab]*", "beta", False),
        ("[!ab]*", "gamma", True),
        ("a.b", "aXb", False),
    ],
)
def test_glob_semantics(pattern: str, path: str, expected: bool) -> None:
    assert make_filter([pattern]).matches(path) is expected


def test_several_patterns_are_a_union() -> None:
    keep = make_filter(["*.a", "*.b"])
    assert keep.matches("x.a") and keep.matches("x.b") and not keep.matches("x.c")


def test_no_pattern_keeps_everything() -> None:
    assert make_filter([]).matches("any/thing")


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("", "empty pattern; remove it"),
        ("/abs", "patterns are relative to the dataset root; drop the leading '/'"),
        ("a/../b", "'.' and '..' segments never match; remove them"),
        ("[ab", "unbalanced '[' ']'; close the character class"),
    ],
)
def test_bad_patterns(pattern: str, message: str) -> None:
    assert pattern_problem(pattern) == message
    with pytest.raises(ValueError, match="include pattern"):
        make_filter([pattern])
