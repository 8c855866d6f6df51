"""An in-toto v1 statement with a SLSA v1 provenance predicate, byte-reproducible.

It names what the image was built from (the lock hash, the target and image hashes, the
manifest's input hash, the base by digest, the source commit when the project is in git)
and by what (envbuild and its version). Timestamps are SOURCE_DATE_EPOCH, not the clock.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from envbuild.canonical import is_hash
from envbuild.lockfile.model import Lock

from . import Subject

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "urn:envbuild:image:v1"  # a URI that promises no web page
BUILDER_ID = "urn:envbuild:builder"


def source_commit(project_dir: Path) -> str | None:
    """The git commit the project folder is at, or None outside git (or without git)."""
    try:
        done = subprocess.run(["git", "-C", str(project_dir), "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = done.stdout.strip()
    if done.returncode != 0 or len(commit) not in (40, 64) or \
            any(c not in "0123456789abcdef" for c in commit):
        return None
    return commit


def provenance_bytes(lock: Lock, subject: Subject, *, builder_version: str,
                     commit: str | None, lock_hashes: tuple[str, str] | None = None) -> bytes:
    """The statement about `subject`; `commit` is the project's git commit, if any.
    `lock_hashes` (lock hash, input hash) stand in for `lock`'s own: a check of a statement
    made from an older lock that builds the same image regenerates it with the hashes it
    records."""
    target = lock.targets[subject.target]
    lock_hash, input_hash = lock_hashes or (lock.lock_hash, lock.input_hash)
    dependencies: list[dict[str, Any]] = [
        {"name": "lock", "digest": _digest_set(lock_hash)}]
    if target.base is not None and target.base_digest is not None:
        dependencies.append({"name": "base", "uri": target.base.split("@", 1)[0],
                             "digest": _digest_set(target.base_digest)})
    if commit is not None:
        dependencies.append({"name": "source", "digest": {"gitCommit": commit}})
    when = datetime.fromtimestamp(subject.epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": f"{lock.name}/{subject.target}",
                     "digest": _digest_set(subject.digest)}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "target": subject.target, "lockHash": lock_hash,
                    "targetHash": target.hash, "imageHash": subject.image_hash,
                    "inputHash": input_hash, "baseDigest": target.base_digest},
                "internalParameters": {"sourceDateEpoch": subject.epoch},
                "resolvedDependencies": dependencies},
            "runDetails": {
                "builder": {"id": BUILDER_ID, "version": {"envbuild": builder_version}},
                "metadata": {"startedOn": when, "finishedOn": when}}}}
    return (json.dumps(statement, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def recorded_build(data: bytes) -> tuple[str, str | None]:
    """(builder version, source commit) a statement records: the two facts no lock can
    confirm, so a check regenerates the statement with them. ValueError when malformed."""
    try:
        document = json.loads(data)
        predicate = document["predicate"]
        version = predicate["runDetails"]["builder"]["version"]["envbuild"]
        sources = [d["digest"]["gitCommit"]
                   for d in predicate["buildDefinition"]["resolvedDependencies"]
                   if d.get("name") == "source"]
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"not an envbuild provenance statement ({error})") from None
    if not isinstance(version, str) or len(sources) > 1 or \
            not all(isinstance(s, str) for s in sources):
        raise ValueError("not an envbuild provenance statement (builder or source)")
    return version, (sources[0] if sources else None)


def recorded_lock(data: bytes) -> tuple[str, str]:
    """(lock hash, input hash) a statement records: the lock it was made from, which may be
    older than the local one and still build the same image. ValueError when malformed."""
    try:
        parameters = json.loads(data)["predicate"]["buildDefinition"]["externalParameters"]
        lock_hash, input_hash = parameters["lockHash"], parameters["inputHash"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"not an envbuild provenance statement ({error})") from None
    if not all(isinstance(h, str) and is_hash(h) for h in (lock_hash, input_hash)):
        raise ValueError("not an envbuild provenance statement (lockHash or inputHash)")
    return lock_hash, input_hash


def _digest_set(text: str) -> dict[str, str]:
    algorithm, _, hexdigest = text.partition(":")
    return {algorithm: hexdigest}
