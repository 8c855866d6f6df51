"""Run a command under a verified environment: a failed verdict means it never starts.

The command runs as a child process (not `exec`) so that its exit status and end time can
be written to the run record; SIGINT and SIGTERM received meanwhile are passed on to it.
"""

from __future__ import annotations

import signal
import socket
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from .determinism import profile_env
from .record import IMAGE_DIGEST_ENV, SCHEMA, dataset_digests, utc_now, write_json_atomic
from .target import TargetSpec
from .verdict import Verdict

TYPE_CHECKING = False  # typing itself is not imported: start-up time
if TYPE_CHECKING:
    from typing import Any


@dataclass(frozen=True, kw_only=True, slots=True)
class RunOptions:
    command: tuple[str, ...]
    record_path: Path
    determinism: str = "strict"
    seed: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class RunOutcome:
    started: bool
    exit_status: int | None  # the child's; None when it never started
    record_path: Path
    record: dict[str, Any]


def execute(spec: TargetSpec, verdict: Verdict, options: RunOptions, *,
            environ: Mapping[str, str]) -> RunOutcome:
    """Start `options.command` if `verdict` is clean; write the run record either way.

    A child killed by signal N gives exit status 128 + N, as shells report it; a command
    that cannot be started gives 127 (not found) or 126 (not executable).
    """
    profile = profile_env(options.determinism, options.seed)
    record: dict[str, Any] = {
        "schema": SCHEMA, "command": list(options.command), "lock_hash": spec.lock_hash,
        "target": spec.name, "target_hash": spec.hash,
        "image_digest": environ.get(IMAGE_DIGEST_ENV) or None,
        "host": {"hostname": socket.gethostname(), **_host(verdict)},
        "datasets": dataset_digests(spec.datasets),
        "determinism": {"profile": options.determinism, "environment": profile},
        "verify": verdict.as_json(), "started": False, "exit_status": None,
        "started_at": utc_now(), "ended_at": None,
    }
    if not verdict.ok:
        record["ended_at"] = utc_now()
        write_json_atomic(options.record_path, record)
        return RunOutcome(started=False, exit_status=None, record_path=options.record_path,
                          record=record)
    status = _run_child(options.command, {**environ, **profile}, record)
    record.update(exit_status=status, ended_at=utc_now())
    write_json_atomic(options.record_path, record)
    return RunOutcome(started=record["started"], exit_status=status,
                      record_path=options.record_path, record=record)


def _run_child(command: tuple[str, ...], env: Mapping[str, str], record: dict[str, Any]) -> int:
    try:
        child = subprocess.Popen(list(command), env=dict(env))
    except FileNotFoundError:
        record["error"] = f"command not found: {command[0]}"
        return 127
    except PermissionError:
        record["error"] = f"command not executable: {command[0]}"
        return 126
    record["started"] = True

    def forward(signum: int, _frame: FrameType | None) -> None:
        child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        status = child.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 128 - status if status < 0 else status


def _host(verdict: Verdict) -> dict[str, Any]:
    host = verdict.facts.get("host")
    if not isinstance(host, dict):
        return {"gpus": None, "driver": None, "checked": False}
    return {"gpus": host.get("gpus"), "gpu_count": host.get("gpu_count"),
            "driver": host.get("driver"), "checked": True}

