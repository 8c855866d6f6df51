"""Canonical bytes, and the proof of a locked target: standard library only.

This is the one definition of envbuild's canonical JSON and of a target's hash. It lives in
the portable runtime because images and `--python` interpreters must prove the lock they
are handed with nothing installed; `envbuild.canonical` and `envbuild.lockfile.hashes`
import it from here, so the two sides cannot drift.

A target's hash covers every value of its table in the lock except the hash itself (the
image base and the manifest digest it is pinned to are values of that table); the lock hash covers every value of the
document except itself, with each target's table standing in by its hash. Any edit of a
recorded value, a package added or removed, changes one of them.
"""

from __future__ import annotations

import hashlib
import json

TYPE_CHECKING = False  # typing itself is not imported: start-up time
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

# The lock schema whose hashes this module defines (envbuild.lockfile.model.SCHEMA_VERSION).
HASH_SCHEMA = 2


def canonical_bytes(value: Any) -> bytes:
    """Plain data (dict with str keys, list, str, int, bool, None) as canonical JSON bytes:
    sorted keys, no whitespace, UTF-8. Floats (no single canonical text) raise TypeError."""
    _check_plain(value, 0)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def digest(value: Any) -> str:
    """The `sha256:<hex>` digest of a value's canonical bytes."""
    return "sha256:" + hashlib.sha256(canonical_bytes(value)).hexdigest()


def target_hash(table: Mapping[str, Any]) -> str:
    """The hash of a target table as the lock records it (the `hash` key itself left out)."""
    body = {k: v for k, v in table.items() if k != "hash"}
    return digest(_present({"schema": HASH_SCHEMA, "target": body}))


def lock_hash(document: Mapping[str, Any]) -> str:
    """The hash of a whole lock document (its `lock-hash` key left out), each target's table
    standing in by its recorded hash: the target hashes prove the tables."""
    body = {k: v for k, v in document.items() if k != "lock-hash"}
    targets = body.get("targets")
    if isinstance(targets, dict):
        body["targets"] = {name: table.get("hash") if isinstance(table, dict) else table
                           for name, table in targets.items()}
    return digest(_present({"schema": HASH_SCHEMA, "lock": body}))


def prove_document(document: Mapping[str, Any]) -> list[str]:
    """Every reason a lock document's hashes do not match its content (empty: it proves).
    Every target hash is checked, and the lock hash; only an image's one-target lock (no
    input hash, indexes or datasets) has none."""
    targets = document.get("targets")
    failures = [reason for name, table in sorted(targets.items()) if isinstance(table, dict)
                and (reason := prove_target(name, table))] if isinstance(targets, dict) else []
    recorded = document.get("lock-hash")
    whole = any(key in document for key in ("input-hash", "indexes", "datasets")) or \
        (isinstance(targets, dict) and len(targets) != 1)
    if recorded is None and whole:
        # Only an image's one-target lock goes without one (another target or a dataset
        # must not change the image); a whole lock without its hash is not proved.
        failures.append("the lock has no lock hash")
    if recorded is not None:
        try:
            actual = lock_hash(document)
        except (TypeError, ValueError) as error:
            return [*failures, f"the lock holds a value no envbuild lock has ({error})"]
        if recorded != actual:
            failures.append(f"the lock hash does not match the lock's content (recorded {recorded}, "
                            f"content hashes to {actual})")
    return failures


def prove_target(name: str, table: Mapping[str, Any]) -> str | None:
    """Why the table does not prove (None when its recorded hash matches its content)."""
    recorded = table.get("hash")
    try:
        actual = target_hash(table)
    except (TypeError, ValueError) as error:
        return f'target "{name}": its table holds a value no envbuild lock has ({error})'
    if recorded != actual:
        return (f'target "{name}": its content does not match its recorded hash '
                f"(recorded {recorded}, content hashes to {actual}): the lock was edited or damaged")
    return None


_MAX_DEPTH = 64


def _present(value: Any) -> Any:
    """Absent is absent: a None value (which TOML cannot hold) is left out at every level,
    so the model's and the file's view of one lock hash alike."""
    if isinstance(value, dict):
        return {k: _present(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_present(v) for v in value]
    return value


def _check_plain(value: Any, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise ValueError("values nested too deeply")
    if isinstance(value, float):
        raise TypeError("floats are not allowed in canonical data")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"canonical dict keys must be str, got {type(key).__name__}")
            _check_plain(item, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_plain(item, depth + 1)
    elif not (value is None or isinstance(value, (str, int, bool))):
        raise TypeError(f"{type(value).__name__} values are not allowed in canonical data")
