"""Include filters: glob patterns matched against a file's relative POSIX path.

`*` and `?` stay within one path segment, `[...]` is a character class and `**` spans any
number of whole segments (`**/*.JPEG` matches `a.JPEG` and `x/y/a.JPEG`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True, slots=True)
class PathFilter:
    """Files a dataset keeps; an empty pattern list keeps every file."""

    patterns: tuple[str, ...]
    _regex: re.Pattern[str] | None

    def matches(self, path: str) -> bool:
        return self._regex is None or self._regex.fullmatch(path) is not None


def make_filter(patterns: Iterable[str]) -> PathFilter:
    """Compile include patterns; ValueError names a bad one."""
    kept = tuple(patterns)
    if not kept:
        return PathFilter(patterns=(), _regex=None)
    for pattern in kept:
        problem = pattern_problem(pattern)
        if problem:
            raise ValueError(f"include pattern {pattern!r}: {problem}")
    regex = "|".join(f"(?:{_translate(p)})" for p in kept)
    return PathFilter(patterns=kept, _regex=re.compile(regex, re.DOTALL))


def pattern_problem(pattern: str) -> str | None:
    """Why `pattern` is not a usable include glob, or None."""
    if not pattern:
        return "empty pattern; remove it"
    if pattern.startswith("/"):
        return "patterns are relative to the dataset root; drop the leading '/'"
    if any(part in (".", "..") for part in pattern.split("/")):
        return "'.' and '..' segments never match; remove them"
    if pattern.count("[") != pattern.count("]"):
        return "unbalanced '[' ']'; close the character class"
    return None


def _translate(pattern: str) -> str:
    out: list[str] = []
    parts = pattern.split("/")
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "**":
            # Any number of whole segments, including none.
            out.append(".*" if last else "(?:[^/]*/)*")
            continue
        out.append(_segment(part))
        if not last:
            out.append("/")
    return "".join(out)


def _segment(part: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(part):
        char = part[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = part.find("]", i + 2)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = part[i + 1 : end].replace("\\", "\\\\").replace("/", "")
                if body.startswith(("!", "^")):
                    # A negated class still never matches the separator.
                    out.append("[^" + body[1:] + "/]")
                else:
                    out.append("[" + body + "]")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)
