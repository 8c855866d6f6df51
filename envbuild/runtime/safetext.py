"""Escaped messages and bounded reads: the one definition, standard library only.

The portable modules run inside images and other interpreters, where envbuild is not
installed, and may import only the standard library and each other; envbuild itself uses
these same functions (`envbuild.scrub.escape`, `envbuild.inputfiles`), as it uses
`proof` for its hashes, so the rules cannot drift apart.
"""

from __future__ import annotations

import os
import stat

# As envbuild.inputfiles.MAX_INPUT_BYTES: a target document is a few KiB.
MAX_INPUT_BYTES = 16 * 1024 * 1024


def escape(text: str) -> str:
    """Control characters (C0, C1, DEL) and Unicode format characters (bidi overrides,
    zero-width joiners, ...) as `\\xNN` / `\\uNNNN`; newlines and tabs are kept."""
    if text.isprintable():
        return text
    import unicodedata  # only for text that needs it: start-up time

    out = []
    for c in text:
        if c in "\n\t" or c.isprintable():
            out.append(c)
        elif unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            code = ord(c)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000
                       else f"\\U{code:08x}")
        else:
            out.append(c)
    return "".join(out)


class NotRegular(OSError):
    """The path is not a regular file; `kind` says what it is."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"{kind}, not a regular file")
        self.kind = kind


class TooLarge(OSError):
    """The file is larger than the bound; `size` is what was seen (None: grew while read)."""

    def __init__(self, size: int | None, limit: int) -> None:
        super().__init__(f"{size} bytes, more than the {limit} bytes envbuild reads" if size is not None
                         else f"more than the {limit} bytes envbuild reads")
        self.size, self.limit = size, limit


def read_bounded(path: str, *, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of the regular file `path`, without reading more than `limit + 1` bytes;
    NotRegular for a device, a FIFO, a folder or a socket (opened without blocking),
    TooLarge over `limit`, the OSError of the system call otherwise."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegular(file_kind(info.st_mode))
        if info.st_size > limit:
            raise TooLarge(info.st_size, limit)
        chunks, size = [], 0
        while chunk := os.read(fd, 1 << 20):
            size += len(chunk)
            if size > limit:  # grew while being read
                raise TooLarge(None, limit)
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def file_kind(mode: int) -> str:
    """What a file that is not a regular file is, for a message ("a FIFO", ...)."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a socket" if stat.S_ISSOCK(mode) else "not a regular file"
