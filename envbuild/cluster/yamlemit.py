"""A small deterministic YAML writer for the plain data of Kubernetes objects.

Block style, keys in the order given (emitters build objects in the conventional order),
two-space indentation, strings plain only when no YAML 1.1 or 1.2 reader could take them
for anything but a string, otherwise double-quoted (JSON escapes are valid YAML). Strings
with line breaks are literal blocks. Deliberately no dependency: the output is a function
of the data and this file alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_PLAIN = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./-]*$")
_RESERVED = frozenset({"true", "false", "yes", "no", "on", "off", "y", "n", "null", "~"})


def dump_all(documents: Sequence[Mapping[str, Any]], *, header: str = "") -> str:
    """Documents separated by `---`, each ending with a newline, after `header` as comments."""
    comments = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return comments + "".join(f"---\n{dump(document)}" for document in documents)


def dump(document: Mapping[str, Any]) -> str:
    lines: list[str] = []
    _mapping(document, 0, lines)
    return "\n".join(lines) + "\n"


def scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, str):
        if _PLAIN.fullmatch(value) and value.lower() not in _RESERVED:  # `$` allows a final \n
            return value
        return _quoted(value)
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _mapping(data: Mapping[str, Any], indent: int, lines: list[str], *,
             first_prefix: str | None = None) -> None:
    pad = " " * indent
    for position, (key, value) in enumerate(data.items()):
        lead = first_prefix if position == 0 and first_prefix is not None else pad
        head = f"{lead}{scalar(key)}:"
        if isinstance(value, Mapping) and value:
            lines.append(head)
            _mapping(value, indent + 2, lines)
        elif isinstance(value, list) and value:
            lines.append(head)
            _sequence(value, indent, lines)  # sequences sit at their key's indentation
        elif isinstance(value, str) and "\n" in value and _literal_ok(value):
            lines.append(f"{head} |{'' if value.endswith(chr(10)) else '-'}")
            lines.extend(f"{pad}  {line}" if line else "" for line in value.splitlines())
        else:
            lines.append(f"{head} {_empty(value) if _is_empty(value) else scalar(value)}")


def _sequence(items: Sequence[Any], indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for item in items:
        if isinstance(item, Mapping) and item:
            _mapping(item, indent + 2, lines, first_prefix=f"{pad}- ")
        elif isinstance(item, list) and item:
            raise TypeError("nested sequences are not written")
        else:
            lines.append(f"{pad}- {_empty(item) if _is_empty(item) else scalar(item)}")


def _quoted(value: str) -> str:
    # Double-quoted: printable text as is, everything else as a YAML escape.
    out = []
    for char in value:
        code = ord(char)
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char.isprintable() and (code < 0xD800 or 0xE000 <= code <= 0xFFFD or code > 0xFFFF):
            out.append(char)
        elif code < 0x100:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def _is_empty(value: Any) -> bool:
    return isinstance(value, (Mapping, list)) and not value


def _empty(value: Any) -> str:
    return "{}" if isinstance(value, Mapping) else "[]"


def _literal_ok(value: str) -> bool:
    # A literal block cannot start with a space (it would set the indentation), cannot end
    # with more than one line break under `|`, and holds printable text only.
    return (not value.startswith((" ", "\n")) and not value.endswith("\n\n")
            and all(c == "\n" or c.isprintable() for c in value)
            and not any(line != line.rstrip() for line in value.splitlines()))
