"""Find the line of a dotted key in a TOML text, for error messages.

tomllib gives values without positions; this scanner maps `targets.h100.gpus[1]` back to
the line that holds it. It understands table headers, array-of-table headers, dotted keys
and inline tables well enough for messages; when unsure it answers the nearest enclosing
key's line, and None only when nothing matches.
"""

from __future__ import annotations

import re

_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=""")
_INDEX = re.compile(r"\[\d+\]")
_STRING = re.compile(r""""(?:[^"\\]|\\.)*"|'[^']*'""")
_BARE = re.compile(r"[A-Za-z0-9_-]+")


def dotted(*parts: str) -> str:
    """A TOML dotted key, quoting the parts that are not bare keys (`targets."a.b".foo`),
    so that a message names the key as written and `line_of` finds its line."""
    return ".".join(p if _BARE.fullmatch(p) else '"' + p.replace("\\", "\\\\").replace('"', '\\"') + '"'
                    for p in parts)


def _norm(dotted: str) -> tuple[str, ...]:
    parts = re.findall(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""", dotted)
    return tuple(p.strip("\"'") for p in parts)


class LineIndex:
    """Lines of every key path in one TOML document."""

    def __init__(self, text: str) -> None:
        self._lines: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        array: tuple[str, ...] | None = None  # the key of a multi-line array being read
        position = 0
        for number, line in enumerate(text.splitlines(), start=1):
            if array is not None:
                # One string element per match: `targets.h100.gpus[1]` gets its own line.
                body = line.split("#", 1)[0]
                position = self._elements(array, position, body, number)
                if "]" in _STRING.sub("", body):
                    array = None
                continue
            header = _HEADER.match(line)
            if header and not line.lstrip().startswith("#"):
                table = _norm(header.group(1))
                self._lines.setdefault(table, number)
                continue
            key = _KEY.match(line)
            if key:
                path = table + _norm(key.group(1))
                self._lines.setdefault(path, number)
                rest = _STRING.sub('""', line[key.end():].split("#", 1)[0]).strip()
                if rest.startswith("[") and rest.count("[") > rest.count("]"):
                    array = path
                    position = self._elements(array, 0, line[key.end():].split("#", 1)[0], number)
                # Inline tables: `sources = { torch = "x" }` puts `sources.torch` here too.
                brace = line.find("{", key.end())
                if brace != -1:
                    for inner in re.finditer(r"""([A-Za-z0-9_"'-]+)\s*=""", line[brace:]):
                        self._lines.setdefault((*path, inner.group(1).strip("\"'")), number)

    def _elements(self, array: tuple[str, ...], position: int, text: str, number: int) -> int:
        """Record the string elements of an array found in `text`; the next position."""
        for offset, _ in enumerate(_STRING.finditer(text)):
            self._lines.setdefault((*array, f"[{position + offset}]"), number)
        return position + len(_STRING.findall(text))

    def line_of(self, dotted: str) -> int | None:
        """The line of `dotted` (an element's own line in a multi-line array), or of its
        nearest known parent."""
        index = _INDEX.search(dotted)
        if index is not None and index.end() == len(dotted):
            exact = (*_norm(dotted[:index.start()]), index.group(0))
            if exact in self._lines:
                return self._lines[exact]
        path = _norm(_INDEX.sub("", dotted))
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return None
