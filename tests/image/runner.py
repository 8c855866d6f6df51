"""Run `envbuild image` / `envbuild cache` whether or not the command table lists them yet.

The lazy command table in envbuild/cli/__init__.py is edited by its owner; until the
`image` and `cache` lines land there, tests add them here (setdefault: a no-op after).
Run as a script, this is `envbuild` for subprocess tests.
"""

from __future__ import annotations

import sys

from envbuild.cli import _COMMANDS, main

_COMMANDS.setdefault("image", ("envbuild.cli.image", "image",
                               "Build bit-for-bit OCI images of locked targets."))
_COMMANDS.setdefault("cache", ("envbuild.cli.cache", "cache",
                               "Show or prune the cache of wheels and layers."))

if __name__ == "__main__":
    main(sys.argv[1:])
