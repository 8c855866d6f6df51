"""`envbuild run`: a mismatch means the command never starts; otherwise a full run record."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from envbuild.runtime.bundle import write_zipapp
from tests.helpers import run_cli
from tests.runtime.envs import (
    BASE,
    CPU_HASH,
    clean_environ,
    copy_venv,
    lock_hash_of,
    pip_install,
    target,
    write_lock,
)

DIGEST = "blake3:" + "11" * 32
CHILD = ("import json, os, sys; from pathlib import Path; "
         "Path(sys.argv[1]).write_text(json.dumps({k: os.environ.get(k) for k in "
         "('PYTHONHASHSEED', 'CUBLAS_WORKSPACE_CONFIG', 'TF_DETERMINISTIC_OPS', 'XLA_FLAGS', "
         "'ENVBUILD_DETERMINISTIC', 'ENVBUILD_SEED')}));"
         " sys.exit(int(sys.argv[2]))")


@pytest.fixture
def lock(tmp_path: Path) -> Path:
    return write_lock(tmp_path / "envbuild.lock", target("cpu", BASE),
                      datasets={"val": {"digest": DIGEST, "files": 3, "size": 10}})


def envbuild_run(lock: Path, python: Path, record: Path, marker: Path, status: int = 0,
                 *extra: str) -> tuple[int, str]:
    result = run_cli(["run", "-f", str(lock.parent / "envbuild.toml"), "--lock", str(lock),
                      "--python", str(python), "--record", str(record), *extra, "--",
                      str(python), "-c", CHILD, str(marker), str(status)])
    return result.code, result.err


def test_mismatch_means_the_command_never_starts(lock: Path, venv: Path, wheels: Path,
                                                 tmp_path: Path) -> None:
    pip_install(venv, wheels, ["alpha==1.1"])
    marker, record = tmp_path / "marker.json", tmp_path / "run.json"
    code, err = envbuild_run(lock, venv, record, marker)
    assert (code, err.splitlines()[1:]) == (1, [
        "target cpu: 1 mismatch",
        "  version: alpha: locked at 1.0, installed 1.1",
        f"{venv} was not started; run record: {record}",
    ])
    assert not marker.exists()
    doc = json.loads(record.read_text())
    assert (doc["started"], doc["exit_status"]) == (False, None)
    assert doc["verify"]["mismatches"][0]["package"] == "alpha"


def test_success_writes_the_record_and_returns_the_child_status(
        lock: Path, golden_venv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVBUILD_IMAGE_DIGEST", "sha256:" + "77" * 32)
    marker, record = tmp_path / "marker.json", tmp_path / "runs" / "run.json"
    code, _ = envbuild_run(lock, golden_venv, record, marker, 3, "--lock-hash", lock_hash_of(lock))
    assert code == 3
    assert json.loads(marker.read_text()) == {
        "PYTHONHASHSEED": "0", "CUBLAS_WORKSPACE_CONFIG": ":4096:8", "TF_DETERMINISTIC_OPS": "1",
        "XLA_FLAGS": "--xla_gpu_deterministic_ops=true", "ENVBUILD_DETERMINISTIC": "1", "ENVBUILD_SEED": "0"}
    doc = json.loads(record.read_text())
    assert doc["command"] == [str(golden_venv), "-c", CHILD, str(marker), "3"]
    assert (doc["lock_hash"], doc["target"], doc["target_hash"]) == (lock_hash_of(lock), "cpu", CPU_HASH)
    assert doc["image_digest"] == "sha256:" + "77" * 32
    assert doc["datasets"] == {"val": DIGEST}
    assert (doc["started"], doc["exit_status"]) == (True, 3)
    assert doc["host"]["checked"] is False and "driver" in doc["host"]
    assert doc["determinism"]["profile"] == "strict"
    assert doc["started_at"] <= doc["ended_at"]
    assert doc["verify"]["ok"] is True


def test_manifest_run_table_chooses_profile_and_seed(lock: Path, golden_venv: Path,
                                                     tmp_path: Path) -> None:
    (tmp_path / "envbuild.toml").write_text('[run]\ndeterminism = "off"\nseed = 42\n')
    marker = tmp_path / "marker.json"
    assert envbuild_run(lock, golden_venv, tmp_path / "r.json", marker)[0] == 0
    assert json.loads(marker.read_text()) == {
        "PYTHONHASHSEED": None, "CUBLAS_WORKSPACE_CONFIG": None, "TF_DETERMINISTIC_OPS": None,
        "XLA_FLAGS": None, "ENVBUILD_DETERMINISTIC": None, "ENVBUILD_SEED": "42"}


def test_unknown_profile_is_bad_input(lock: Path, golden_venv: Path, tmp_path: Path) -> None:
    (tmp_path / "envbuild.toml").write_text('[run]\ndeterminism = "sloppy"\n')
    code, err = envbuild_run(lock, golden_venv, tmp_path / "r.json", tmp_path / "m")
    assert (code, err) == (2, (
        f"error: {tmp_path / 'envbuild.toml'}: run.determinism: unknown determinism profile "
        '"sloppy" (known: off, strict)\n'))
    assert not (tmp_path / "m").exists()


def test_standalone_runner_in_the_environment(lock: Path, venv: Path, wheels: Path,
                                              tmp_path: Path) -> None:
    bundle = write_zipapp(tmp_path / "envbuild-runtime.pyz")
    marker, record = tmp_path / "marker.json", tmp_path / "run.json"
    command = [str(venv), "-I", str(bundle), "run", "--lock", str(lock), "--record", str(record),
               "--", str(venv), "-c", CHILD, str(marker), "0"]
    assert subprocess.run(command, env=clean_environ()).returncode == 0
    assert json.loads(record.read_text())["exit_status"] == 0
    marker.unlink()
    pip_install(venv, wheels, ["extra-tool"])
    done = subprocess.run(command, env=clean_environ(), capture_output=True, text=True)
    assert done.returncode == 1
    assert "  unlocked: extra-tool: 0.1 is installed but not locked" in done.stderr
    assert not marker.exists()


PREFIX = "import sys; print(sys.prefix)"


def test_without_python_the_venv_sync_makes_is_checked_and_runs_the_command(
        lock: Path, golden_venv: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    python = copy_venv(golden_venv.parent.parent, tmp_path / ".venv")
    result = run_cli(["run", "-f", str(tmp_path / "envbuild.toml"), "--record",
                      str(tmp_path / "run.json"), "--", "python3", "-c", PREFIX])
    assert result.code == 0, result.err
    assert result.err.splitlines()[0] == (
        f"note: checking {python} (the virtual environment `envbuild sync` makes); "
        "--python names another")
    assert capfd.readouterr().out == f"{tmp_path / '.venv'}\n"  # its python, first on PATH


def test_without_python_or_venv_a_refused_run_hints_at_sync(lock: Path, tmp_path: Path) -> None:
    record = tmp_path / "run.json"
    result = run_cli(["run", "-f", str(tmp_path / "envbuild.toml"), "--record", str(record),
                      "--", "true"])
    assert result.code == 1
    assert result.err.splitlines()[-2:] == [
        f"true was not started; run record: {record}",
        f"hint: no --python was given and there is no {tmp_path / '.venv'} beside the manifest, "
        f"so envbuild's own interpreter ({sys.executable}) was checked; make the project's "
        f"environment with `envbuild sync`, or name it with --python "
        f"{tmp_path / '.venv' / 'bin' / 'python'}"]


def test_a_relative_python_is_first_on_path_wherever_the_command_goes(
        lock: Path, golden_venv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str]) -> None:
    copy_venv(golden_venv.parent.parent, tmp_path / ".venv")
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    result = run_cli(["run", "-f", "../envbuild.toml", "--python", "../.venv/bin/python",
                      "--record", str(tmp_path / "run.json"), "--",
                      "sh", "-c", f"cd / && python3 -c '{PREFIX}'"])
    assert result.code == 0, result.err
    # ../.venv/bin on PATH would be /../.venv/bin after the `cd /`: the host's python3.
    assert capfd.readouterr().out == f"{tmp_path / '.venv'}\n"
