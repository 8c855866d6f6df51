"""Escaped messages and bounded reads for the portable runtime (standard library only).

A deliberate twin of `envbuild.scrub.escape` and `envbuild.inputfiles.read_input_bytes`:
the portable modules run inside images and other interpreters, where envbuild is not
installed, and may import only the standard library and each other. The rules are the
same, and tests/runtime/test_safetext.py holds `escape` equal to envbuild's.
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


def read_bounded(path: str, *, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of the regular file `path`; OSError (with a reason) for a device, a FIFO,
    a folder or a file over `limit`, without reading more than `limit + 1` bytes."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError("not a regular file")
        if info.st_size > limit:
            raise OSError(f"{info.st_size} bytes, more than the {limit} bytes envbuild reads")
        chunks, size = [], 0
        while chunk := os.read(fd, 1 << 20):
            size += len(chunk)
            if size > limit:  # grew while being read
                raise OSError(f"more than the {limit} bytes envbuild reads")
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
