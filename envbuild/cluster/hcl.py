"""A small deterministic writer of Terraform (HCL native syntax) in `terraform fmt` layout.

Only what the emitters use: blocks, attributes whose values are strings, numbers, booleans,
string lists, flat string maps and raw expressions (`var.x`). Consecutive one-line
attributes have their `=` aligned, as `terraform fmt` does; a blank line goes around every
nested block and multi-line value, which ends an alignment group.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True, slots=True)
class Expr:
    """A raw expression written as is: `var.cluster_name`, `list(string)`."""

    text: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Block:
    type: str
    labels: tuple[str, ...] = ()
    body: tuple[tuple[str, Any] | Block, ...] = field(default=())


def render(blocks: Sequence[Block], *, header: str = "") -> str:
    lines: list[str] = [f"# {line}" if line else "#" for line in header.splitlines()]
    if lines:
        lines.append("")
    for position, block in enumerate(blocks):
        if position:
            lines.append("")
        _block(block, 0, lines)
    return "\n".join(lines) + "\n"


def string(value: str) -> str:
    # JSON escapes are HCL escapes; `${` and `%{` would start a template.
    return json.dumps(value, ensure_ascii=False).replace("${", "$${").replace("%{", "%%{")


def _block(block: Block, indent: int, lines: list[str]) -> None:
    pad = "  " * indent
    labels = "".join(f" {string(label)}" for label in block.labels)
    lines.append(f"{pad}{block.type}{labels} {{")
    group: list[tuple[str, str]] = []
    previous_multi = False
    for position, item in enumerate(block.body):
        if isinstance(item, Block) or _multiline(item[1]):
            _flush(group, indent + 1, lines)
            group = []
            if position:
                lines.append("")
            if isinstance(item, Block):
                _block(item, indent + 1, lines)
            else:
                _multi_attribute(item[0], item[1], indent + 1, lines)
            previous_multi = True
            continue
        if previous_multi:
            lines.append("")
            previous_multi = False
        group.append((item[0], _value(item[1])))
    _flush(group, indent + 1, lines)
    lines.append(f"{pad}}}")


def _flush(group: list[tuple[str, str]], indent: int, lines: list[str]) -> None:
    width = max((len(name) for name, _ in group), default=0)
    for name, value in group:
        lines.append(f"{'  ' * indent}{name.ljust(width)} = {value}")


def _multiline(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(value)


def _multi_attribute(name: str, value: Mapping[str, Any], indent: int, lines: list[str]) -> None:
    pad = "  " * indent
    lines.append(f"{pad}{name} = {{")
    _object_body(value, indent + 1, lines)
    lines.append(f"{pad}}}")


def _object_body(value: Mapping[str, Any], indent: int, lines: list[str]) -> None:
    pad = "  " * indent
    flat = [(_key(k), v) for k, v in value.items() if not _multiline(v)]
    width = max((len(k) for k, _ in flat), default=0)
    for key, item in value.items():
        if _multiline(item):
            lines.append(f"{pad}{_key(key)} = {{")
            _object_body(item, indent + 1, lines)
            lines.append(f"{pad}}}")
        else:
            lines.append(f"{pad}{_key(key).ljust(width)} = {_value(item)}")


def _key(key: str) -> str:
    # Identifiers stay bare (`aws`, `source`); keys like `envbuild.dev/pool` are quoted.
    return key if key.replace("_", "a").replace("-", "a").isalnum() and key[0].isalpha() \
        else string(key)


def _value(value: Any) -> str:
    if isinstance(value, Expr):
        return value.text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping) and not value:
        return "{}"
    raise TypeError(f"cannot write {type(value).__name__} as HCL")
