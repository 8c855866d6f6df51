"""Run a command under a verified environment: a failed verdict means it never starts.

The command runs as a child process (not `exec`) so that its exit status and end time can
be written to the run record; SIGINT and SIGTERM received meanwhile are passed on to it and
the runner waits for it to end (Kubernetes and Slurm preempt with SIGTERM, then SIGKILL
after a grace period). The record says so: `terminated_by` names the signal passed on,
`signal` the one the child died of, if any.
"""

from __future__ import annotations

import os
import shutil
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

# What Kubernetes and Slurm preempt with (SIGTERM), and Ctrl-C (SIGINT).
FORWARDED = (signal.SIGINT, signal.SIGTERM)


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
        "terminated_by": None, "signal": None, "ended": "not started",
        "started_at": utc_now(), "ended_at": None,
    }
    if not verdict.ok:
        record["ended_at"] = utc_now()
        write_json_atomic(options.record_path, record)
        return RunOutcome(started=False, exit_status=None, record_path=options.record_path,
                          record=record)
    status = _run_child(options.command, {**environ, **profile}, record)
    record.update(exit_status=status, ended_at=utc_now())
    record["ended"] = ending(record)
    write_json_atomic(options.record_path, record)
    return RunOutcome(started=record["started"], exit_status=status,
                      record_path=options.record_path, record=record)


def _run_child(command: tuple[str, ...], env: Mapping[str, str], record: dict[str, Any]) -> int:
    """Start `command`, pass SIGTERM and SIGINT on to it, wait for it; its exit status.

    The program is looked up on the child's own PATH first, so that a missing one is named
    here (exit 127) rather than lost in a traceback or in silence. The handlers are in place
    before the child starts: a preemption that lands meanwhile is passed on once it runs.
    """
    program, status, problem = _resolve(command[0], env)
    if program is None:
        record["error"] = problem
        return status
    received: list[int] = []
    pending: list[int] = []  # received before the child existed
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        if child is None:
            pending.append(signum)
        elif child.returncode is None and not _terminal_sent(signum):
            child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in FORWARDED}
    try:
        try:
            child = subprocess.Popen(list(command), executable=program, env=dict(env))
        except OSError as error:  # e.g. a `#!` interpreter that does not exist
            record["error"] = f"{command[0]}: cannot start {program}: {error.strerror}"
            return 127 if isinstance(error, FileNotFoundError) else 126
        record["started"] = True
        while pending:
            child.send_signal(pending.pop(0))
        status = child.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if received:
        record["terminated_by"] = _signal_name(received[0])
    if status < 0:
        record["signal"] = _signal_name(-status)
    return 128 - status if status < 0 else status


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:  # a real-time signal has no name
        return f"signal {signum}"


def _terminal_sent(signum: int) -> bool:
    """Whether a SIGINT is Ctrl-C at the terminal, which reached the child as well: it
    shares our process group, so a second one would interrupt its own clean-up."""
    if signum != signal.SIGINT:
        return False
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd):
                return os.tcgetpgrp(fd) == os.getpgrp()
        except OSError:
            continue
    return False


def _resolve(name: str, env: Mapping[str, str]) -> tuple[str | None, int, str]:
    """The file `name` starts, looked up as exec does on the child's PATH; else the exit
    status a shell gives (127 not found, 126 not executable) and why."""
    path = env.get("PATH", os.defpath)
    if "/" in name:  # a path, not looked up (as exec does)
        if not Path(name).exists():
            return None, 127, f"{name}: not found"
        if Path(name).is_dir() or not os.access(name, os.X_OK):
            return None, 126, f"{name}: not executable"
        return name, 0, ""
    found = shutil.which(name, path=path)
    if found is None:
        return None, 127, f"{name}: not found on PATH={path}"
    return found, 0, ""


def ending(record: Mapping[str, Any]) -> str:
    """How the run ended, in words: "exited with status 0", "terminated by SIGTERM", ..."""
    if not record.get("started"):
        return "not started"
    status = record.get("exit_status")
    if record.get("terminated_by"):
        return f"terminated by {record['terminated_by']} (exit status {status})"
    if record.get("signal"):
        return f"killed by {record['signal']} (exit status {status})"
    return f"exited with status {status}"


def _host(verdict: Verdict) -> dict[str, Any]:
    host = verdict.facts.get("host")
    if not isinstance(host, dict):
        return {"gpus": None, "driver": None, "checked": False}
    return {"gpus": host.get("gpus"), "gpu_count": host.get("gpu_count"),
            "driver": host.get("driver"), "checked": True}

