"""Make untrusted text safe for a message, a lock or an export.

- `scrub` removes credentials from URLs.
- `escape` makes control and bidirectional-override characters visible, so a value read
  from a manifest, lock or listing cannot rewrite the terminal or reorder a message.
"""

from __future__ import annotations

import re
import unicodedata

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")


def scrub(text: str) -> str:
    """Replace `user:password@` in URLs with `***@`."""
    return _USERINFO.sub(r"\g<scheme>***@", text)


def escape(text: str) -> str:
    """Control characters (C0, C1, DEL) and Unicode format characters (bidi overrides,
    zero-width joiners, ...) as `\\xNN` / `\\uNNNN`; newlines and tabs are kept."""
    if text.isprintable():
        return text
    out = []
    for c in text:
        if c in "\n\t" or c.isprintable() or (c == " "):
            out.append(c)
        elif unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            code = ord(c)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000
                       else f"\\U{code:08x}")
        else:
            out.append(c)
    return "".join(out)
