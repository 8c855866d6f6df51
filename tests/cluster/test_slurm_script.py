"""The sbatch scripts as text: valid bash, gres, and the pyxis image by digest."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cluster.support import CLUSTER, DIGEST, run_cluster, write_project
from tests.runtime.envs import lock_hash_of


def emit(tmp_path: Path, slurm: str) -> str:
    project = write_project(tmp_path, cluster=CLUSTER.replace(
        "[cluster.pools.h100]", f"[cluster.slurm]\n{slurm}\n[cluster.pools.h100]"))
    result = run_cluster(project, "--provider", "slurm")
    assert result.code == 0, result.err
    path = project / "out" / "slurm" / "h100.sbatch"
    assert path.stat().st_mode & 0o111
    if shutil.which("bash"):
        syntax = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True,
                                check=False)
        assert syntax.returncode == 0, syntax.stderr
    return path.read_text()


def test_container_mode_runs_the_image_by_digest_through_pyxis(tmp_path: Path) -> None:
    text = emit(tmp_path, 'mode = "container"\npartition = "gpu"\ntime = "24:00:00"')
    assert "#SBATCH --gres=gpu:h100:8\n" in text
    assert "#SBATCH --nodes=2\n" in text and "#SBATCH --partition=gpu\n" in text
    assert f"--container-image='registry.example.com#team/app@{DIGEST}'" in text
    assert ('--container-mounts="$ENVBUILD_TARGET_JSON:/etc/envbuild/target.json:ro"' in text)
    assert "python3 -I /opt/envbuild/runtime run --target-json /etc/envbuild/target.json" in text
    assert ('torchrun --nproc-per-node=8 "--nnodes=${SLURM_NNODES}" --rdzv-backend=c10d '
            '"--rdzv-endpoint=${ENVBUILD_RDZV_HOST}:29500" "--rdzv-id=${SLURM_JOB_ID}" -m train'
            in text)


def test_venv_mode_runs_envbuild_run_on_the_venv(tmp_path: Path) -> None:
    text = emit(tmp_path, 'mode = "venv"\nvenv = "/shared/venvs/h100"')
    assert "ENVBUILD_VENV=${ENVBUILD_VENV:-/shared/venvs/h100}" in text
    assert ('envbuild run -f "$SLURM_SUBMIT_DIR"/envbuild.toml --lock "$SLURM_SUBMIT_DIR"/envbuild.lock '
            f"--target h100 --lock-hash {lock_hash_of(tmp_path / 'envbuild.lock')} "
            '--python "$ENVBUILD_VENV/bin/python" -- \\\n') in text
    # No [image] copy: the command runs from the project folder; the venv comes from the lock.
    assert '\ncd "$SLURM_SUBMIT_DIR"\n' in text
    assert "#   envbuild sync --venv /shared/venvs/h100 --target h100\n" in text
    assert "--container-image" not in text


@pytest.mark.parametrize("mode", ["venv", "container"])
def test_scripts_are_deterministic(tmp_path: Path, mode: str) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert emit(tmp_path / "a", f'mode = "{mode}"') == emit(tmp_path / "b", f'mode = "{mode}"')


def test_venv_mode_runs_from_the_copied_code_quoted(tmp_path: Path) -> None:
    # `[image] copy`'s first entry is a folder of modules: `python -m` finds the code there.
    (tmp_path / "my src").mkdir()
    project = write_project(tmp_path, cluster='[image]\ncopy = ["my src/"]\n' + CLUSTER.replace(
        "[cluster.pools.h100]", '[cluster.slurm]\nmode = "venv"\n[cluster.pools.h100]'))
    result = run_cluster(project, "--provider", "slurm")
    assert result.code == 0, result.err
    text = (project / "out" / "slurm" / "h100.sbatch").read_text()
    assert "\ncd \"$SLURM_SUBMIT_DIR\"/'my src'\n" in text


def test_a_copy_outside_the_project_is_refused(tmp_path: Path) -> None:
    project = write_project(tmp_path, cluster='[image]\ncopy = ["../elsewhere"]\n' + CLUSTER)
    result = run_cluster(project, "--provider", "slurm")
    assert result.code == 2
    assert result.err == (
        "error: 1 problem found\n"
        'envbuild.toml:13: image.copy[0]: "../elsewhere" must be a path inside the project, '
        "relative to the manifest\nhint: fix the [image] table of the manifest\n")
    assert not (project / "out").exists()
