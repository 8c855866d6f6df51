"""`[run] launcher`: what the Job and the sbatch script start on each node.

auto: torchrun where the target locks torch, the command as written elsewhere; a launcher
whose program no locked distribution provides is refused at `cluster` time (exit 2).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.support import CLUSTER, RUN, run_cluster, write_project

yaml = pytest.importorskip("yaml", reason="PyYAML reads the emitted YAML back")

TORCH_FREE = {"alpha": "1.0"}
WITH_ACCELERATE = {"alpha": "1.0", "accelerate": "1.2.1", "torch": "2.5.1"}
NOTHING = "hint: nothing was written; fix the problems above\n"
CONTAINER = CLUSTER.replace("[cluster.pools.h100]",
                            '[cluster.slurm]\nmode = "container"\n\n[cluster.pools.h100]')


def job(project: Path) -> dict[str, Any]:
    result = run_cluster(project, "--provider", "kubernetes")
    assert result.code == 0, result.err
    documents = yaml.safe_load_all((project / "out" / "kubernetes" / "h100.yaml").read_text())
    (found,) = [d for d in documents if d["kind"] == "Job"]
    return found


def container(project: Path) -> dict[str, Any]:
    found: dict[str, Any] = job(project)["spec"]["template"]["spec"]["containers"][0]
    return found


def after_runner(command: list[str]) -> list[str]:
    """What the image's runner starts once the environment is verified."""
    assert command[:4] == ["python3", "-I", "/opt/envbuild/runtime", "run"]
    return command[command.index("--") + 1:]


def sbatch(project: Path) -> str:
    result = run_cluster(project, "--provider", "slurm")
    assert result.code == 0, result.err
    path = project / "out" / "slurm" / "h100.sbatch"
    if shutil.which("bash"):
        syntax = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True,
                                check=False)
        assert syntax.returncode == 0, syntax.stderr
    return path.read_text()


def line_of(project: Path, text: str) -> int:
    return (project / "envbuild.toml").read_text().splitlines().index(text) + 1


def test_torch_free_target_runs_the_command_as_written(tmp_path: Path) -> None:
    project = write_project(tmp_path, packages=TORCH_FREE)
    found = container(project)
    assert after_runner(found["command"]) == ["python", "-m", "train"]
    # Two nodes and no launcher: the rendezvous in the variables torch.distributed reads.
    env = {e["name"]: e.get("value") for e in found["env"]}
    assert (env["MASTER_ADDR"], env["MASTER_PORT"], env["NNODES"]) == (
        "demo-h100-0.demo-h100", "29500", "2")


def test_torch_free_job_passes_the_upstream_schemas(tmp_path: Path) -> None:
    validate = pytest.importorskip("kubernetes_validate",
                                   reason="kubernetes-validate is not installed").validate
    project = write_project(tmp_path, packages=TORCH_FREE)
    validate(job(project), "1.32.0", strict=True)


def test_torch_free_sbatch_runs_the_command_as_written(tmp_path: Path) -> None:
    project = write_project(tmp_path, packages=TORCH_FREE)
    text = sbatch(project)
    assert "torchrun" not in text
    assert 'export MASTER_ADDR="${ENVBUILD_RDZV_HOST}"\n' in text
    assert text.endswith(" -- \\\n  python -m train\n")  # the image's runner, then the command


def test_target_with_torch_runs_torchrun_with_a_rendezvous(tmp_path: Path) -> None:
    project = write_project(tmp_path)  # its h100 target locks torch
    assert after_runner(container(project)["command"]) == [
        "torchrun", "--nproc-per-node=8", "--nnodes=2", "--node-rank=$(NODE_RANK)",
        "--master-addr=demo-h100-0.demo-h100", "--master-port=29500", "-m", "train"]
    assert text_tail(sbatch(project)) == (
        'torchrun --nproc-per-node=8 "--nnodes=${SLURM_NNODES}" --rdzv-backend=c10d '
        '"--rdzv-endpoint=${ENVBUILD_RDZV_HOST}:29500" "--rdzv-id=${SLURM_JOB_ID}" -m train')


def test_launcher_none_runs_as_written_even_with_torch(tmp_path: Path) -> None:
    project = write_project(tmp_path, run=RUN + 'launcher = "none"\n')
    assert after_runner(container(project)["command"]) == ["python", "-m", "train"]


def test_accelerate_takes_the_nodes_its_own_way_on_kubernetes(tmp_path: Path) -> None:
    project = write_project(tmp_path, run=RUN + 'launcher = "accelerate"\n',
                            packages=WITH_ACCELERATE)
    assert after_runner(container(project)["command"]) == [
        "accelerate", "launch", "--num_processes=16", "--num_machines=2", "--multi_gpu",
        "--machine_rank=$(NODE_RANK)", "--main_process_ip=demo-h100-0.demo-h100",
        "--main_process_port=29500", "-m", "train"]


def as_task(tail: str, folder: Path) -> list[str]:
    """The launch words run as one srun task would run them (node 1 of 2), with a stand-in
    `accelerate` on PATH that prints its arguments, one a line."""
    stand_in = folder / "bin" / "accelerate"
    stand_in.parent.mkdir()
    stand_in.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    stand_in.chmod(0o755)
    env = {"PATH": f"{stand_in.parent}{os.pathsep}{os.environ['PATH']}", "SLURM_NODEID": "1",
           "SLURM_NNODES": "2", "ENVBUILD_RDZV_HOST": "node-a", "HOME": "/home/x"}
    done = subprocess.run(["bash", "-c", tail], env=env, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_accelerate_on_slurm_reads_the_node_rank_in_each_task(tmp_path: Path) -> None:
    """The rank exists only inside each srun task: the words run in a shell there."""
    project = write_project(tmp_path, cluster=CONTAINER, run=RUN + 'launcher = "accelerate"\n',
                            packages=WITH_ACCELERATE)
    tail = text_tail(sbatch(project))
    assert tail.startswith("sh -c ")
    assert as_task(tail, tmp_path) == [
        "launch", "--num_processes=16", "--num_machines=2", "--multi_gpu", "--machine_rank=1",
        "--main_process_ip=node-a", "--main_process_port=29500", "-m", "train"]


def test_command_words_reach_the_program_unchanged_through_the_task_shell(
        tmp_path: Path) -> None:
    run = ('\n[run]\ncommand = ["./train", "--note", "a b $HOME \'q\'"]\nnodes = 2\n'
           'launcher = "accelerate"\n')
    project = write_project(tmp_path, cluster=CONTAINER, run=run, packages=WITH_ACCELERATE)
    assert as_task(text_tail(sbatch(project)), tmp_path)[-4:] == [
        "--no_python", "./train", "--note", "a b $HOME 'q'"]


def text_tail(script: str) -> str:
    """The launch words of the srun line: its last line."""
    return script.rstrip("\n").splitlines()[-1].strip()


@pytest.mark.parametrize(("launcher", "distribution"), [("accelerate", "accelerate"),
                                                        ("torchrun", "torch")])
def test_launcher_without_its_program_is_refused(tmp_path: Path, launcher: str,
                                                 distribution: str) -> None:
    project = write_project(tmp_path, run=RUN + f'launcher = "{launcher}"\n', packages=TORCH_FREE)
    result = run_cluster(project)
    line = line_of(project, f'launcher = "{launcher}"')
    assert result.code == 2
    assert result.err == (
        f'error: envbuild.toml:{line}: run.launcher: pool "h100" runs target "h100" with '
        f'launcher "{launcher}", but no distribution locked for that target provides its '
        f"program `{launcher}` (it comes with {distribution}). Fix: add \"{distribution}\" to "
        f"target \"h100\"'s dependencies and run `envbuild lock`, or set [run] launcher = "
        '"auto" or "none" to run the command as written\n' + NOTHING)
    assert not (project / "out").exists()


def test_unknown_launcher_is_a_manifest_problem(tmp_path: Path) -> None:
    project = write_project(tmp_path, run=RUN + 'launcher = "torch-run"\n')
    result = run_cluster(project)
    line = line_of(project, 'launcher = "torch-run"')
    assert result.code == 2
    assert result.err.splitlines()[:2] == [
        "error: 1 problem found",
        f'envbuild.toml:{line}: run.launcher: unknown value "torch-run"; did you mean '
        '"torchrun"?']


def test_run_env_wins_over_the_rendezvous_variables(tmp_path: Path) -> None:
    project = write_project(tmp_path, run=RUN + '\n[run.env]\nMASTER_PORT = "1234"\n',
                            packages=TORCH_FREE)
    env = [(e["name"], e.get("value")) for e in container(project)["env"]]
    assert [item for item in env if item[0] == "MASTER_PORT"] == [("MASTER_PORT", "1234")]
    text = sbatch(project)
    assert "export MASTER_PORT=1234\n" in text and 'MASTER_PORT="29500"' not in text
