"""The one lock reader: every command gets its lock here, proved.

`load` reads the file (bounded: envbuild.inputfiles), parses and checks every value
(codec, fields), then recomputes every target hash and the lock hash from the content and
refuses the lock (exit 1) when one does not match: which target, that its content does not
match its hash, and the fix. Only `envbuild lock`, which rewrites the lock, and
`lock --check`, which reports why it is stale, read a lock that does not prove
(`read`); `diff` reads both sides with `examine` and reports what fails first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from envbuild.errors import CheckFailed, InputError
from envbuild.inputfiles import read_input_text
from envbuild.lockfile import codec
from envbuild.lockfile.model import SCHEMA_VERSION, Lock
from envbuild.runtime.proof import prove_document
from envbuild.scrub import escape

FIX = ("it was edited or damaged after `envbuild lock` wrote it: review the change (`git diff`), "
       "then re-create it with `envbuild lock`")


class LockNotProved(CheckFailed):
    """The lock's content does not match its recorded hashes."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Examined:
    lock: Lock
    failures: tuple[str, ...]  # why it does not prove; empty when it does

    @property
    def proved(self) -> bool:
        return not self.failures


def prove(lock: Lock) -> tuple[str, ...]:
    """Every reason the lock's recorded hashes do not match its content (empty: proved)."""
    if lock.version < SCHEMA_VERSION:
        return (f"it was written with lock schema {lock.version} by an older envbuild, whose hashes "
                "cannot be proved from the lock alone",)
    return tuple(prove_document(codec.to_document(lock)))


def examine(text: str, *, source: str) -> Examined:
    """Parse and check `text`, and say whether it proves (parse errors raise)."""
    lock = codec.loads(text, source=source)
    return Examined(lock=lock, failures=prove(lock))


def read(path: Path) -> Examined:
    """Read, parse, check and prove the lock at `path`, without refusing one that does not
    prove: for `envbuild lock` (which rewrites it) and `lock --check` (which reports it) only."""
    if not os.path.lexists(path):
        raise InputError(f"{escape(str(path))}: no lock file", hint="create it with `envbuild lock`")
    text = read_input_text(path, what="lock")
    return examine(text, source=str(path))


def load(path: Path) -> Lock:
    """The proved lock at `path`; LockNotProved (exit 1) when its content does not match its hashes."""
    examined = read(path)
    refuse(examined, source=str(path))
    return examined.lock


def refuse(examined: Examined, *, source: str) -> None:
    """Raise LockNotProved when `examined` did not prove."""
    if examined.failures:
        lines = "\n".join(f"  {f}" for f in examined.failures)
        old = examined.lock.version < SCHEMA_VERSION
        raise LockNotProved(escape(f"{source}: the lock does not prove; its content does not match "
                                   f"its hashes:\n{lines}"),
                            hint="re-lock it with `envbuild lock` (its pins are kept)" if old else FIX)
