"""The run record: what ran, against which lock and host, and how it ended (JSON).

How it ended: `exit_status` (128 + N where the command died of signal N, 127 not found,
126 not executable, null when it never started), `terminated_by` (the signal the runner
received and passed on, "SIGTERM" on preemption), `signal` (the one the command died of),
`ended` in words ("exited with status 0", "terminated by SIGTERM (exit status 143)",
"not started") and `error` where it could not be started.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

TYPE_CHECKING = False  # typing itself is not imported: start-up time
if TYPE_CHECKING:
    from typing import Any

IMAGE_DIGEST_ENV = "ENVBUILD_IMAGE_DIGEST"
SCHEMA = 1


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def write_json_atomic(path: Path, document: Mapping[str, Any]) -> None:
    """Replace `path` atomically: same-folder temp file, fsync, rename (as envbuild.fileio)."""
    data = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(0o644)
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def dataset_digests(datasets: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {name: table.get("digest") for name, table in sorted(datasets.items())}


def default_record_path(environ: Mapping[str, str]) -> Path:
    """$ENVBUILD_RUN_RECORD, else .envbuild/runs/run-<UTC time>-<pid>.json."""
    chosen = environ.get("ENVBUILD_RUN_RECORD")
    if chosen:
        return Path(chosen)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return Path(".envbuild") / "runs" / f"run-{stamp}-{os.getpid()}.json"
