"""Reading the files a user hands envbuild (manifests, locks, listings) with bounds.

A path given on the command line may name anything: a FIFO that never ends, a device
(`/dev/zero` grows memory without limit), a folder, a file of gigabytes. Every input file
is read here: regular files only, at most `limit` bytes, decoded as UTF-8 and parsed as TOML
with its nesting depth bounded (tomllib recurses, so a document nested thousands deep would
raise RecursionError).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from envbuild.errors import InputError
from envbuild.runtime.safetext import MAX_INPUT_BYTES, NotRegular, TooLarge, read_bounded
from envbuild.scrub import escape

# MAX_INPUT_BYTES (16 MiB): manifests are a few KiB, the largest real locks (many targets
# of CUDA stacks) about 1 MiB.
# Deeper than any envbuild document needs (locks nest 5 levels), far below the recursion limit.
MAX_TOML_DEPTH = 64


def read_input_bytes(path: Path, *, what: str, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of the regular file `path`, refusing devices, FIFOs, folders and files
    larger than `limit` (without reading more than `limit + 1` bytes)."""
    shown = escape(str(path))
    try:
        return read_bounded(os.fspath(path), limit=limit)
    except FileNotFoundError:
        raise InputError(f"{shown}: no such {what}") from None
    except NotRegular as error:
        raise InputError(f"{shown}: the {what} is {error.kind}, not a regular file",
                         hint=f"pass the path of a {what} file") from None
    except TooLarge as error:
        size = f"{error.size} bytes" if error.size is not None else f"more than {limit} bytes"
        raise InputError(f"{shown}: the {what} is {size}" + (f", more than the {limit} bytes envbuild reads"
                                                              if error.size is not None else ""),
                         hint=f"is this really a {what}?") from None
    except OSError as error:
        raise InputError(f"{shown}: cannot read the {what}: {escape(error.strerror or str(error))}") from None


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
