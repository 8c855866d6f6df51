"""Version comparisons that need no third-party code: PEP 440 equality, dotted drivers."""

from __future__ import annotations

import functools
import re

# The regular expression of PEP 440's appendix (the same one `packaging` uses).
_PEP440_TEXT = (
    r"""^\s*v?
    (?:(?P<epoch>[0-9]+)!)?
    (?P<release>[0-9]+(?:\.[0-9]+)*)
    (?P<pre>[-_.]?(?P<pre_l>alpha|a|beta|b|preview|pre|c|rc)[-_.]?(?P<pre_n>[0-9]+)?)?
    (?P<post>(?:-(?P<post_n1>[0-9]+))|(?:[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>[0-9]+)?))?
    (?P<dev>[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>[0-9]+)?)?
    (?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?
    \s*$"""
)
_PRE = {"alpha": "a", "a": "a", "beta": "b", "b": "b", "c": "rc", "pre": "rc", "preview": "rc",
        "rc": "rc"}
VersionKey = tuple[object, ...]


@functools.cache
def _pep440() -> re.Pattern[str]:
    # Compiled on first use: equal strings, the common case, never need it.
    return re.compile(_PEP440_TEXT, re.VERBOSE | re.IGNORECASE)


def version_key(text: str) -> VersionKey:
    """A key equal for equal PEP 440 versions (`1.0` and `1.0.0`, `1.0RC1` and `1.0rc1`).

    The local label takes part (`2.5.1+cu121` differs from `2.5.1` and `2.5.1+cu124`). A
    string that is not a PEP 440 version keys as itself, so it only equals itself.
    """
    match = _pep440().match(text)
    if match is None:
        return ("invalid", text.strip())
    release = [int(part) for part in match["release"].split(".")]
    while len(release) > 1 and release[-1] == 0:
        release.pop()
    pre = (_PRE[match["pre_l"].lower()], int(match["pre_n"] or 0)) if match["pre"] else None
    post = None
    if match["post"]:
        post = int(match["post_n1"] or match["post_n2"] or 0)
    dev = int(match["dev_n"] or 0) if match["dev"] else None
    local = None
    if match["local"]:
        parts = re.split(r"[-_.]", match["local"])
        local = tuple(int(p) if p.isdigit() else p.lower() for p in parts)
    return (int(match["epoch"] or 0), tuple(release), pre, post, dev, local)


def same_version(locked: str, installed: str) -> bool:
    """True when two version strings name the same PEP 440 version, local label included."""
    return locked == installed or version_key(locked) == version_key(installed)


def dotted(text: str) -> tuple[int, ...] | None:
    """`"550.90.07"` -> (550, 90, 7); None for anything that is not dotted numbers."""
    parts = text.strip().split(".")
    if not all(part.isdigit() for part in parts):
        return None
    return tuple(int(part) for part in parts)


def at_least(have: str, floor: str) -> bool | None:
    """Numeric dotted comparison (`550.90.07 >= 550.54.14`); None when either is not dotted."""
    a, b = dotted(have), dotted(floor)
    if a is None or b is None:
        return None
    width = max(len(a), len(b))
    return a + (0,) * (width - len(a)) >= b + (0,) * (width - len(b))
