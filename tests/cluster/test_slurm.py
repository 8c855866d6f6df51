"""The generated sbatch script on a real Slurm (scripts/services/slurm): in virtual-environment
mode the job verifies an environment installed from the lock, then starts the command; against
a tampered environment it fails without starting it and its log names the mismatch. The
code is in src/ (`[image] copy = ["src/"]`): the job runs the command from there.

No GPU here: the node declares its GPUs as a gres over stand-in device files, and the job's
GPU check reads a recorded NVML answer (ENVBUILD_NVML_PROBE, the runtime's own seam). The
target locks no torch, so the job runs the command as written (`[run] launcher = "auto"`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cluster.support import run_cluster
from tests.conftest import LocalIndex
from tests.helpers import run_cli

pytestmark = [pytest.mark.slurm, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
H100_PROBE = ROOT / "tests" / "fixtures" / "nvml" / "h100-8x.json"
TRAIN = """import importlib.metadata, os
print("TRAINING STARTED", "beta", importlib.metadata.version("beta"),
      "PYTHONHASHSEED", os.environ.get("PYTHONHASHSEED"), "SEED", os.environ.get("ENVBUILD_SEED"))
"""


def manifest(envbuild: Path) -> str:
    return f"""[project]
name = "demo"
python = "{sys.version_info.major}.{sys.version_info.minor}"

[dependencies]
python = ["alpha"]

[targets.h100]
platform = "linux/amd64"
cuda = "12.4"
gpus = ["H100"]

[image]
copy = ["src/"]

[cluster]
providers = ["slurm"]

[cluster.slurm]
mode = "venv"
venv = ".venv-h100"
envbuild = "{envbuild}"

[cluster.pools.h100]
target = "h100"
gpu = "H100"
gpus-per-node = 8
nodes = 1

[run]
command = ["python", "-m", "eb_train"]
seed = 7
"""


def pip(python: Path, *args: str) -> None:
    subprocess.run([str(python), "-m", "pip", "--isolated", "--disable-pip-version-check",
                    "-q", *args], check=True, env={**os.environ, "PIP_NO_INPUT": "1"})


def sbatch(project: Path, conf: Path) -> tuple[int, str]:
    env = {**os.environ, "SLURM_CONF": str(conf), "ENVBUILD_NVML_PROBE": str(H100_PROBE)}
    done = subprocess.run(["sbatch", "--wait", "--parsable", "slurm/h100.sbatch"], cwd=project,
                          env=env, capture_output=True, text=True, check=False, timeout=300)
    job = done.stdout.strip().split(";")[0]
    log = project / f"demo-h100-{job}.out"
    return done.returncode, log.read_text() if log.is_file() else done.stderr


def test_sbatch_venv_mode_verifies_then_runs_and_refuses_a_tampered_env(
        eb_env: dict[str, str], tmp_path: Path, local_index: LocalIndex, slurm_conf: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    envbuild = Path(sys.executable).parent / "envbuild"
    (project / "envbuild.toml").write_text(manifest(envbuild), encoding="utf-8")
    # The code in src/, as `[image] copy` puts it in images: the job runs from there.
    (project / "src").mkdir()
    (project / "src" / "eb_train.py").write_text(TRAIN, encoding="utf-8")
    locked = run_cli(["lock", "-f", str(project / "envbuild.toml")])
    assert locked.code == 0, locked.err
    exported = run_cli(["export", "-f", str(project / "envbuild.toml"), "--target", "h100",
                        "--format", "requirements", "-o", str(project / "req.txt")])
    assert exported.code == 0, exported.err
    result = run_cluster(project, "-o", str(project), image=None)
    assert result.code == 0, result.err
    script = (project / "slurm" / "h100.sbatch").read_text()
    assert "#SBATCH --gres=gpu:h100:8" in script

    # The environment, installed from the lock with hashes required.
    venv = project / ".venv-h100"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip(python, "install", "--no-deps", "--require-hashes", "--index-url", local_index.url(),
        "-r", str(project / "req.txt"))
    assert "torchrun" not in script and script.endswith(" -- \\\n  python -m eb_train\n")
    assert '\ncd "$SLURM_SUBMIT_DIR"/src\n' in script

    status, log = sbatch(project, slurm_conf)
    assert status == 0, log
    assert "TRAINING STARTED beta 2.0 PYTHONHASHSEED 0 SEED 7" in log

    # Tampered: another beta than the locked one. The job fails and never starts the command.
    pip(python, "install", "--no-deps", "--index-url", local_index.url(), "beta==1.0")
    status, log = sbatch(project, slurm_conf)
    assert status != 0
    assert "TRAINING STARTED" not in log
    assert "target h100: 1 mismatch\n  version: beta: locked at 2.0, installed 1.0\n" in log, log
    assert "python was not started; run record: " in log, log
