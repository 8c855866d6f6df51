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
    assert ('envbuild run -f envbuild.toml --lock envbuild.lock --target h100 --lock-hash '
            f"{lock_hash_of(tmp_path / 'envbuild.lock')} --python \"$ENVBUILD_VENV/bin/python\" -- \\\n") in text
    assert "--container-image" not in text


@pytest.mark.parametrize("mode", ["venv", "container"])
def test_scripts_are_deterministic(tmp_path: Path, mode: str) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert emit(tmp_path / "a", f'mode = "{mode}"') == emit(tmp_path / "b", f'mode = "{mode}"')
