"""The hashes a lock records: per target, and the lock hash over the whole document.

Both are digests of the lock's own content (canonical JSON, envbuild.canonical), never of
file bytes and never of anything the lock does not hold: a lock proves itself, with no
manifest at hand (`envbuild.lockfile.proof`). A target's hash covers every value of its
table (and the image base digest it is built on); the lock hash covers every value of the
document with each target's table standing in by its hash. The target hash's definition
lives in the portable runtime (`envbuild.runtime.proof`) so that images prove their lock
with the very same code.
"""

from __future__ import annotations

import dataclasses

from envbuild.lockfile.model import Lock, LockedTarget
from envbuild.runtime import proof


def target_hash(target: LockedTarget) -> str:
    """What the target's recorded content hashes to (its `hash` field is not read)."""
    from envbuild.lockfile.codec import target_table

    return proof.target_hash(target_table(target))


def lock_hash(lock: Lock) -> str:
    """What the lock's recorded content hashes to (its `lock-hash` field is not read)."""
    from envbuild.lockfile.codec import to_document

    return proof.lock_hash(to_document(lock))


def seal_target(target: LockedTarget) -> LockedTarget:
    """The target with its hash set from its content."""
    return dataclasses.replace(target, hash=target_hash(target))


def seal(lock: Lock) -> Lock:
    """The lock with its lock hash set from its content (targets must be sealed already)."""
    return dataclasses.replace(lock, lock_hash=lock_hash(lock))
