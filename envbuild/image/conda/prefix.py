"""Prefix placeholders replaced the way conda does it when it links a package.

A file listed in `info/paths.json` with a `prefix_placeholder` holds the build prefix,
which conda replaces with the install prefix (conda's `core/portability.py`):

- text mode: every occurrence is replaced, the file's length changes;
- binary mode: each NUL-terminated string holding the placeholder keeps its length: the
  placeholder is replaced and the string padded with NULs, so offsets in the binary stay
  valid. A prefix longer than the placeholder cannot be padded and is refused.
"""

from __future__ import annotations

import re

from envbuild.errors import InputError


class PrefixTooLong(InputError):
    """The install prefix does not fit where a binary file holds the build prefix."""


def replace_prefix(data: bytes, placeholder: str, prefix: str, mode: str, *,
                   where: str) -> bytes:
    """`data` with `placeholder` replaced by `prefix` (`mode`: "text" or "binary")."""
    search = placeholder.encode()
    new = prefix.encode()
    if mode == "text":
        return data.replace(search, new)
    return _binary(data, search, new, where=where)


def _binary(data: bytes, search: bytes, new: bytes, *, where: str) -> bytes:
    if len(new) > len(search):
        raise PrefixTooLong(f"{where}: the prefix {new.decode()} is longer than the "
                            f"{len(search)}-byte placeholder the binary file holds",
                            hint="choose a shorter conda prefix")

    def one(match: re.Match[bytes]) -> bytes:
        # The string (up to and with its NUL) with each placeholder replaced, then the NULs
        # that keep its length: the bytes conda writes.
        text = match.group()
        return text.replace(search, new) + b"\0" * ((len(search) - len(new)) * text.count(search))

    return re.compile(re.escape(search) + rb"([^\0]*?)\0").sub(one, data)
