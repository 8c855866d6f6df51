"""Reading the files a user hands envbuild (manifests, locks, listings) with bounds.

A path given on the command line may name anything: a FIFO that never ends, a device
(`/dev/zero` grows memory without limit), a folder, a file of gigabytes. Every input file
is read here: regular files only, at most `limit` bytes, decoded as UTF-8 and parsed as TOML
with its nesting depth bounded (tomllib recurses, so a document nested thousands deep would
raise RecursionError).
"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from typing import Any

from envbuild.errors import InputError
from envbuild.scrub import escape

# Manifests are a few KiB; the largest real locks (many targets of CUDA stacks) are ~1 MiB.
MAX_INPUT_BYTES = 16 * 1024 * 1024
# Deeper than any envbuild document needs (locks nest 5 levels), far below the recursion limit.
MAX_TOML_DEPTH = 64


def read_input_bytes(path: Path, *, what: str, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of the regular file `path`, refusing devices, FIFOs, folders and files
    larger than `limit` (without reading more than `limit + 1` bytes)."""
    shown = escape(str(path))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise InputError(f"{shown}: no such {what}") from None
    except OSError as error:
        raise InputError(f"{shown}: cannot read the {what}: {escape(error.strerror or str(error))}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = ("a folder" if stat.S_ISDIR(info.st_mode) else "a FIFO" if stat.S_ISFIFO(info.st_mode)
                    else "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
                    else "a socket" if stat.S_ISSOCK(info.st_mode) else "not a regular file")
            raise InputError(f"{shown}: the {what} is {kind}, not a regular file",
                             hint=f"pass the path of a {what} file")
        if info.st_size > limit:
            raise InputError(f"{shown}: the {what} is {info.st_size} bytes, more than the "
                             f"{limit} bytes envbuild reads", hint=f"is this really a {what}?")
        chunks = []
        size = 0
        while chunk := os.read(fd, 1 << 20):
            size += len(chunk)
            if size > limit:  # grew while being read
                raise InputError(f"{shown}: the {what} is more than {limit} bytes",
                                 hint=f"is this really a {what}?")
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as error:
        raise InputError(f"{shown}: cannot read the {what}: {escape(error.strerror or str(error))}") from None
    finally:
        os.close(fd)


def read_input_text(path: Path, *, what: str, limit: int = MAX_INPUT_BYTES) -> str:
    data = read_input_bytes(path, what=what, limit=limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"{escape(str(path))}: the {what} is not UTF-8 text (byte {error.start})") from None


def parse_toml(text: str, *, source: str, what: str, hint: str | None = None) -> dict[str, Any]:
    """tomllib.loads with nesting bounded; errors name `source` and are InputError."""
    depth = _nesting_depth(text)
    if depth > MAX_TOML_DEPTH:
        raise InputError(f"{escape(source)}: the {what} nests values {depth} levels deep, more than "
                         f"the {MAX_TOML_DEPTH} envbuild reads", hint=hint)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"{escape(source)}: the {what} is not valid TOML: {escape(str(error))}",
                         hint=hint) from None
    except RecursionError:  # a shape the scan below did not count; never a traceback
        raise InputError(f"{escape(source)}: the {what} nests values too deeply", hint=hint) from None


def _nesting_depth(text: str) -> int:
    """An upper bound of the bracket nesting of inline arrays and tables, outside strings
    and comments: enough to refuse hostile nesting before tomllib recurses into it."""
    depth = deepest = 0
    quote: str | None = None
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if quote is not None:
            if text.startswith(quote, i):
                i += len(quote)
                quote = None
                continue
            if c == "\\" and quote in ('"', '"""'):
                i += 2
                continue
        elif c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif c in "\"'":
            quote = c * 3 if text.startswith(c * 3, i) else c
            i += len(quote)
            continue
        elif c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth = max(0, depth - 1)
        elif c == "\n" and depth == 0:
            pass
        i += 1
    return deepest
