"""The runner as a process: a command it cannot find, exit statuses, and preemption.

Both runners are started as real processes (`python -m envbuild run` and the image's
standalone runner) and signalled as Kubernetes and Slurm do: SIGTERM to the runner only.
The command is a Python loop that records, in a file, the signal it received.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from envbuild.runtime.bundle import write_zipapp
from tests.runtime.envs import BASE, clean_environ, target, write_lock

# argv: marker file, ready file, the status to exit with on SIGINT. SIGTERM is re-raised
# with its default action after the marker is written: the child dies of it.
SLEEPER = """\
import os, signal, sys, time
from pathlib import Path
marker, ready, status = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
def got(signum, _frame):
    marker.write_text(signal.Signals(signum).name)
    if signum == signal.SIGTERM:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
    sys.exit(status)
signal.signal(signal.SIGTERM, got)
signal.signal(signal.SIGINT, got)
ready.write_text("ready")
while True:
    time.sleep(0.05)
"""
RUNNERS = ("envbuild", "standalone")


@pytest.fixture
def lock(tmp_path: Path) -> Path:
    return write_lock(tmp_path / "envbuild.lock", target("cpu", BASE))


def runner_argv(kind: str, lock: Path, python: Path, record: Path, tmp_path: Path) -> list[str]:
    """The runner's command line up to and including `--`."""
    if kind == "envbuild":
        return [sys.executable, "-m", "envbuild", "run", "-f", str(lock.parent / "envbuild.toml"),
                "--lock", str(lock), "--python", str(python), "--record", str(record), "--"]
    bundle = write_zipapp(tmp_path / "envbuild-runtime.pyz")
    return [str(python), "-I", str(bundle), "run", "--lock", str(lock), "--record", str(record),
            "--"]


def start(argv: list[str], ready: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(argv, env=clean_environ(), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            out, err = process.communicate()
            pytest.fail(f"the command never started: {process.returncode}\n{out}\n{err}")
        time.sleep(0.02)
    return process


@pytest.mark.parametrize("kind", RUNNERS)
def test_sigterm_reaches_the_command_and_the_record_says_so(
        kind: str, lock: Path, golden_venv: Path, tmp_path: Path) -> None:
    marker, ready, record = tmp_path / "marker", tmp_path / "ready", tmp_path / "run.json"
    argv = runner_argv(kind, lock, golden_venv, record, tmp_path)
    process = start([*argv, str(golden_venv), "-c", SLEEPER, str(marker), str(ready), "0"], ready)
    process.send_signal(signal.SIGTERM)  # the runner only, as the kubelet signals PID 1
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, err
    assert marker.read_text() == "SIGTERM"
    assert (f"note: terminated by SIGTERM (exit status 143); run record: {record}"
            in err.splitlines())
    doc = json.loads(record.read_text())
    assert (doc["started"], doc["exit_status"], doc["terminated_by"], doc["signal"]) == (
        True, 143, "SIGTERM", "SIGTERM")
    assert doc["ended"] == "terminated by SIGTERM (exit status 143)"


@pytest.mark.parametrize("kind", RUNNERS)
def test_sigint_is_passed_on_and_the_command_status_returned(
        kind: str, lock: Path, golden_venv: Path, tmp_path: Path) -> None:
    marker, ready, record = tmp_path / "marker", tmp_path / "ready", tmp_path / "run.json"
    argv = runner_argv(kind, lock, golden_venv, record, tmp_path)
    process = start([*argv, str(golden_venv), "-c", SLEEPER, str(marker), str(ready), "3"], ready)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 3, err
    assert marker.read_text() == "SIGINT"
    doc = json.loads(record.read_text())
    assert (doc["exit_status"], doc["terminated_by"], doc["signal"]) == (3, "SIGINT", None)
    assert doc["ended"] == "terminated by SIGINT (exit status 3)"


@pytest.mark.parametrize("kind", RUNNERS)
def test_command_not_on_path_exits_127_naming_the_path(
        kind: str, lock: Path, golden_venv: Path, tmp_path: Path) -> None:
    record = tmp_path / "run.json"
    argv = runner_argv(kind, lock, golden_venv, record, tmp_path)
    env = {**clean_environ(), "PATH": f"{tmp_path / 'bin'}{os.pathsep}/nonexistent"}
    # `envbuild run --python` runs the command in the checked environment: its bin first.
    path = (f"{golden_venv.parent}{os.pathsep}{env['PATH']}" if kind == "envbuild"
            else env["PATH"])
    done = subprocess.run([*argv, "nosuchcmd", "--flag"], env=env, capture_output=True,
                          text=True, check=False, stdin=subprocess.DEVNULL)
    assert done.returncode == 127, done.stderr
    assert done.stderr.splitlines()[-1] == f"error: nosuchcmd: not found on PATH={path}"
    doc = json.loads(record.read_text())
    assert (doc["started"], doc["exit_status"], doc["ended"]) == (False, 127, "not started")
    assert doc["error"] == f"nosuchcmd: not found on PATH={path}"


def test_a_path_that_is_not_executable_exits_126(lock: Path, golden_venv: Path,
                                                 tmp_path: Path) -> None:
    script = tmp_path / "train.sh"
    script.write_text("#!/bin/sh\necho never\n")
    record = tmp_path / "run.json"
    argv = runner_argv("standalone", lock, golden_venv, record, tmp_path)
    done = subprocess.run([*argv, str(script)], env=clean_environ(), capture_output=True,
                          text=True, check=False)
    assert (done.returncode, done.stderr.splitlines()[-1]) == (
        126, f"error: {script}: not executable")
    assert "never" not in done.stdout
