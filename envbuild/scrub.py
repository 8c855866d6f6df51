"""Remove credentials from any text before it reaches a message, a lock or an export."""

from __future__ import annotations

import re

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")


def scrub(text: str) -> str:
    """Replace `user:password@` in URLs with `***@`."""
    return _USERINFO.sub(r"\g<scheme>***@", text)
