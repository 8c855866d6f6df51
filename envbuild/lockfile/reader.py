"""The one lock reader: every command gets its lock here, proved.

`load` reads the file (bounded: envbuild.inputfiles), parses and checks every value
(codec, fields), then recomputes every target hash and the lock hash from the content and
refuses the lock (exit 1) when one does not match: which target, that its content does not
match its hash, and the fix. Only `envbuild lock`, which rewrites the lock, and
`lock --check`, which reports why it is stale, read a lock that does not prove
(`read`); `diff` reads both sides with `examine` and reports what fails first. The one-target lock an
image carries is read by `load_carried`, proved by the same portable proof.
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


def load_carried(text: str, *, source: str) -> Lock:
    """The one-target lock an image carries, proved with the portable proof (the one the
    runtime runs inside the image), as a Lock model for the builder.

    A one-target lock has no lock hash, input hash or indexes (another target or a dataset
    must not change the image); the model needs them, so they are filled from its own
    content: the indexes its packages name, hashes computed here. None of them enters the
    image's bytes (`payload.lock_text` writes only the version, project and target table),
    so the rebuilt payload layer matches only when the model gives back the carried bytes.
    """
    from envbuild.inputfiles import parse_toml
    from envbuild.runtime.proof import lock_hash

    data = parse_toml(text, source=source, what="lock", hint="the image's lock is damaged")
    failures = prove_document(data)
    if failures:
        lines = "\n".join(f"  {f}" for f in failures)
        raise LockNotProved(escape(f"{source}: the lock does not prove; its content does not "
                                   f"match its hashes:\n{lines}"), hint=FIX)
    if "lock-hash" not in data:
        targets = data.get("targets")
        tables = [t for t in targets.values() if isinstance(t, dict)] \
            if isinstance(targets, dict) else []
        packages = [p for t in tables for p in t.get("packages") or [] if isinstance(p, dict)]
        data = {**data, "indexes": {str(p.get("index")): {"exclude-newer-exempt": False}
                                    for p in packages}}
        data["input-hash"] = next((t.get("input-hash") for t in tables), None)
        data["lock-hash"] = lock_hash(data)
    return codec.from_document(data, source=source)
