"""`envbuild run`: verify, then run a command under the determinism profile."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from envbuild.cli._boundary import check_failed, info
from envbuild.cli._options import manifest_options, resolve_lock_path
from envbuild.cli.verify import verify_options
from envbuild.errors import InputError


@click.command(epilog="""\b
Examples:
  envbuild run -- python -m train
  envbuild run --lock-hash sha256:... --record run.json -- torchrun train.py""")
@manifest_options
@verify_options
@click.option("--record", "record_path", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="Run record (default: $ENVBUILD_RUN_RECORD, else "
                                 ".envbuild/runs/run-<time>-<pid>.json).")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run(manifest_path: Path, lock_path: Path | None, target: str | None, no_hardware: bool,
        lock_hash: str | None, python: Path | None, allow: tuple[str, ...],
        record_path: Path | None, command: tuple[str, ...]) -> None:
    """Verify as `envbuild verify` does; on a mismatch exit 1 without starting COMMAND.

    The environment checked is --python's, else the venv `envbuild sync` makes (.venv
    beside the manifest) when it exists, else envbuild's own; the bin folder of the one
    checked comes first on COMMAND's PATH. Otherwise run COMMAND with the [run]
    determinism profile of the manifest ("strict" by default: PYTHONHASHSEED=0,
    CUBLAS_WORKSPACE_CONFIG=:4096:8, ENVBUILD_DETERMINISTIC=1, ENVBUILD_SEED), write the
    run record and exit with COMMAND's status (128+N when it died of signal N; 127 when it
    is not found on PATH, 126 when it cannot be executed).
    SIGTERM and SIGINT are passed on to COMMAND, and envbuild waits for it to end.
    """
    from envbuild.runtime.hosted import RunRequest, VerifyRequest, failure_hint, run_locked

    if not command:
        raise InputError("no command given", hint="envbuild run -- python -m train")
    request = RunRequest(
        verify=VerifyRequest(
            lock_path=resolve_lock_path(manifest_path, lock_path), manifest_path=manifest_path,
            target=target, no_hardware=no_hardware, lock_hash=lock_hash, python=python,
            allow=allow),
        command=command, record_path=record_path)
    verdict, outcome = run_locked(request, os.environ)
    for note in verdict.notes:
        info(f"note: {note}")
    if not verdict.ok:
        hint = failure_hint(request.verify, verdict)
        check_failed(f"{verdict.render()}\n{command[0]} was not started; "
                     f"run record: {outcome.record_path}" + (f"\nhint: {hint}" if hint else ""))
    if not outcome.started:
        info(f"error: {outcome.record.get('error')}")
    elif outcome.record.get("terminated_by"):
        info(f"note: {outcome.record['ended']}; run record: {outcome.record_path}")
    sys.exit(outcome.exit_status if outcome.exit_status is not None else 1)
