"""The hint of a conda solve that failed: the target's own values, named as the cause
where the solver's message shows them (rattler's text names `__cuda`, `__glibc` and the
`python` constraint envbuild adds, but not that they come from the target)."""

from __future__ import annotations

import re

GENERIC = "relax a conda spec, or check the target's cuda and glibc"
_PYTHON = re.compile(r"(^|[\s(])python[ =<>]")


def solver_hint(text: str, *, cuda: str | None, glibc: str, python: str) -> str:
    """What to change, from the solver's message `text` and the target's values."""
    causes = []
    if "__cuda" in text:
        causes.append(f"__cuda is the target's CUDA ({cuda}): pin a build made for CUDA {cuda}, or raise "
                      "the target's cuda" if cuda is not None else
                      "__cuda is the target's CUDA, and it sets none: add cuda to the target, or choose "
                      "packages without a CUDA build")
    if "__glibc" in text:
        causes.append(f"__glibc is the target's glibc floor ({glibc}): pin a build made for glibc {glibc}, "
                      "or raise the target's glibc")
    if _PYTHON.search(text):
        causes.append(f"conda's python is constrained to the target's python ({python}.*): change the "
                      "python spec, or the target's python")
    return "; ".join(causes) if causes else GENERIC
