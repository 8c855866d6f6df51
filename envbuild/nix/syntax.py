"""The one way a value becomes Nix text: quoted strings, store names and SRI hashes.

Every value an export writes comes from a lock or an index; none is trusted to be free of
`"`, `\\` or `${`, so each is written through `string` (never pasted into the text).
"""

from __future__ import annotations

import base64
import re

from envbuild.errors import InputError
from envbuild.scrub import escape

# Characters Nix allows in a store path's name (libstore's checkName); it may not start
# with a dot.
_STORE_NAME = re.compile(r"[A-Za-z0-9+\-._?=]+")
_SHA256 = re.compile(r"sha256:([0-9a-f]{64})")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "$": "\\$", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def string(value: str) -> str:
    """`value` as a double-quoted Nix string that evaluates to exactly `value`.

    `$` is escaped everywhere (not only before `{`): `\\$` reads as `$` in Nix, and no
    `${` can then open an interpolation. Other control characters are refused: no value
    of a lock or an index URL holds one, and Nix strings cannot escape them.
    """
    bad = [c for c in value if (ord(c) < 0x20 and c not in "\n\r\t") or ord(c) == 0x7F]
    if bad:
        raise InputError(f'"{escape(value)}" holds a control character and cannot be written '
                         "into a Nix expression")
    return '"' + "".join(_ESCAPES.get(c, c) for c in value) + '"'


def store_name(name: str) -> str:
    """`name` as a valid Nix store-path name: other characters become `_`, at most 211."""
    cleaned = re.sub(r"[^A-Za-z0-9+\-._?=]", "_", name)[:211]
    if not cleaned or cleaned.startswith("."):
        cleaned = "_" + cleaned[:210]
    assert _STORE_NAME.fullmatch(cleaned)
    return cleaned


def sri(lock_hash: str, *, what: str) -> str:
    """A lock's `sha256:<hex>` as Nix's SRI form `sha256-<base64>`."""
    match = _SHA256.fullmatch(lock_hash)
    if match is None:
        raise InputError(f'{what}: hash "{escape(lock_hash)}" is not sha256:<64 hex digits>',
                         hint="Nix fetches only by sha256; re-lock")
    return "sha256-" + base64.b64encode(bytes.fromhex(match.group(1))).decode("ascii")
