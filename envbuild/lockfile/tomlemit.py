"""A small canonical TOML emitter for plain data.

The lock must be byte-identical for identical content, whatever tool versions are installed,
so it is written by this emitter rather than a general-purpose library: keys in a fixed
order (preferred keys first, then sorted), tables after scalars, one array-of-tables entry
per package (diff-friendly), inline tables only for small leaf records.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")
# Printable ASCII but '"' and '\\': json.dumps quotes such a string and changes nothing else.
_PLAIN = re.compile(r"^[ !#-\[\]-~]*$")
_FIRST = ("name", "version", "lock-hash", "input-hash", "hash", "project")


def _key(name: str) -> str:
    return name if _BARE.match(name) else json.dumps(name, ensure_ascii=False)


def _order(keys: Sequence[str]) -> list[str]:
    first = [k for k in _FIRST if k in keys]
    return first + sorted(k for k in keys if k not in _FIRST)


def _scalar(value: Any) -> str:
    if type(value) is str and _PLAIN.match(value):  # most values: a fast path, same text
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        inner = ", ".join(f"{_key(k)} = {_scalar(value[k])}" for k in _order(list(value)))
        return "{ " + inner + " }" if inner else "{}"
    if isinstance(value, (list, tuple)):
        items = [_scalar(v) for v in value]
        one_line = "[" + ", ".join(items) + "]"
        if len(one_line) <= 88:
            return one_line
        return "[\n" + "".join(f"    {item},\n" for item in items) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to the lock")


def _is_table(value: Any) -> bool:
    return type(value) is dict or isinstance(value, Mapping)  # dict first: ABC checks are slow


def _is_table_array(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and bool(value) and all(_is_table(v) for v in value)


def dumps(document: Mapping[str, Any], *, header: str = "", inline: frozenset[str] = frozenset()) -> str:
    """Write `document`; keys named in `inline` are written as inline tables."""
    out: list[str] = [header] if header else []
    _emit_table(out, (), document, inline)
    return "\n".join(out).strip("\n") + "\n"


def _emit_table(out: list[str], path: tuple[str, ...], table: Mapping[str, Any], inline: frozenset[str]) -> None:
    keys = _order(list(table))
    nested = [k for k in keys if k not in inline and (_is_table(table[k]) or _is_table_array(table[k]))]
    for k in keys:
        if k not in nested and table[k] is not None:
            out.append(f"{_key(k)} = {_scalar(table[k])}")
    for k in nested:
        child = (*path, _key(k))
        value = table[k]
        if _is_table(value):
            scalars = any(not (_is_table(v) or _is_table_array(v)) or kk in inline for kk, v in value.items())
            if scalars or not value:
                out.extend(["", "[" + ".".join(child) + "]"])
            _emit_table(out, child, value, inline)
        else:
            for item in value:
                out.extend(["", "[[" + ".".join(child) + "]]"])
                _emit_table(out, child, item, inline)
