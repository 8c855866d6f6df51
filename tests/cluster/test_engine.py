"""The image's verifier, the emitted Job's command and the sbatch script's container mode
(on the local Slurm, pyxis played by the Docker engine), run by the real Docker engine.

One image is built and pushed for the module by `envbuild image --push --load` from a lock
of wheels served by a real local index; every container runs with `--network none`.
"Swapped" changes the environment, never the lock: a container installs another build of
a locked distribution over the installed one (what `pip install beta==1.1` would do; the
base has no pip) and is committed as a new image, on which the same commands run.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_cli
from tests.image.project import ALPHA, BETA, Project
from tests.image.services import docker_client, pushed_base, registry_address
from tests.support.indexserver import IndexServer
from tests.support.wheelfactory import DistSpec, build_wheel

yaml = pytest.importorskip("yaml", reason="PyYAML reads the emitted Job back")
pytestmark = [pytest.mark.registry, pytest.mark.docker]

TARGET = "gpu"
SITE = "/usr/local/lib/python3.11/dist-packages"  # Debian python3's own site directory
VERIFY = ["python3", "/opt/envbuild/runtime", "verify", "--no-hardware", "--json"]
STARTED = "TRAINING STARTED"
# The [run] command: it shows that it started, which build of beta it imports and that it
# got the determinism profile's variables (strict: PYTHONHASHSEED=0, the seed exported).
# It also reads the dataset through the Job's volume, mounted read-only at its `mount`.
MOUNT = "/data/mini"
SAMPLE = "sample 42"
RUN = ["python3", "-c", "import os, beta; print('" + STARTED + "', beta.__version__, "
       "os.environ['PYTHONHASHSEED'], os.environ['ENVBUILD_SEED']); "
       f"print(open('{MOUNT}/sample.txt').read().strip())"]
SEED = 7
# The target locks torch, so the Job wraps [run] in `torchrun` (launcher "auto"). A real
# torch provides that console script; this stand-in distribution named torch provides one
# too, so the Job's command line runs unchanged: it reports its options and runs the script
# once (no GPUs, no ranks).
TORCHRUN = DistSpec(name="torch", version="2.5.1+cu124",
                    console_scripts={"torchrun": "torchrun_standin:main"},
                    files={"torchrun_standin/__init__.py": '''\
import os
import sys


def main():
    args = sys.argv[1:]
    options = []
    while args and args[0].startswith("--"):
        options.append(args.pop(0))
    print("torchrun stand-in:", *options, flush=True)
    command = args if "--no-python" in options else [sys.executable, *args]
    os.execvp(command[0], command)
'''})
BETA_11 = DistSpec(name="beta", version="1.1")
# Uninstall a distribution as pip does (every file its RECORD lists, then its .dist-info)
# and unpack another wheel of it in its place: argv = wheel path, distribution name.
SWAP = f"""\
import csv, pathlib, shutil, sys, zipfile
site = pathlib.Path({SITE!r})
wheel, name = sys.argv[1:]
(old,) = site.glob(name + "-*.dist-info")
for row in csv.reader((old / "RECORD").read_text().splitlines()):
    (site / row[0]).unlink(missing_ok=True)
shutil.rmtree(old)
zipfile.ZipFile(wheel).extractall(site)
print("replaced", old.name, "with", pathlib.Path(wheel).name)
"""
COMPLETION_INDEX = "metadata.annotations['batch.kubernetes.io/job-completion-index']"


@dataclass(frozen=True)
class Ran:
    status: int
    out: str
    err: str
    files: dict[str, bytes]  # what the container left under the path asked for


@dataclass(frozen=True)
class Pushed:
    project: Project
    loaded: str  # the tag `--load` gave the image in the engine
    pinned: str  # REPOSITORY@sha256:... as pushed
    swapped: str  # the image with beta 1.1 installed over the locked beta 1.0
    dataset: Path  # the folder the Job's dataset volume (a hostPath) names


@pytest.fixture(scope="module")
def engine() -> Any:
    return docker_client()


@pytest.fixture(scope="module")
def pushed(engine: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pushed]:
    """A CUDA target's image, pushed and loaded, and the same image with one package swapped."""
    address = registry_address()
    base = pushed_base(address)
    folder = tmp_path_factory.mktemp("engine")
    created: list[str] = []
    with IndexServer() as server, pytest.MonkeyPatch.context() as patch:
        server.add_index("local")
        for key in list(os.environ):
            if key.startswith(("PIP_", "UV_")) or key in ("SOURCE_DATE_EPOCH", "NETRC"):
                patch.delenv(key)
        patch.setenv("ENVBUILD_CACHE_DIR", str(folder / "cache"))
        (folder / "proj").mkdir()
        project = Project(folder=folder / "proj", server=server, wheel_dir=folder / "wheels",
                          targets={TARGET: {"platform": "linux/amd64", "cuda": "12.4",
                                            "packages": [ALPHA, BETA, TORCHRUN]}})
        repository = f"{address}/test/engine-{uuid.uuid4().hex[:8]}"
        dataset = folder / "mini"
        dataset.mkdir()
        (dataset / "sample.txt").write_text(SAMPLE + "\n", encoding="utf-8")
        # Project.write appends this text to the manifest: [image], [cluster] and [run].
        project.image = f"""
[datasets.mini]
source = "{dataset}"
mount = "{MOUNT}"

[image]
base = "{base}"
repository = "{repository}"

[cluster]
providers = ["kubernetes"]
namespace = "training"

[cluster.volumes.mini]
host-path = "{dataset}"

[cluster.pools.a10g]
target = "{TARGET}"
gpu = "A10G"
gpus-per-node = 1
nodes = {{ min = 0, max = 1 }}

[run]
command = {json.dumps(RUN)}
nodes = 1
determinism = "strict"
seed = {SEED}
"""
        project.write()
        result = run_cli(["image", "-f", str(project.manifest), "--push", "--load", "--json"])
    assert result.code == 0, result.err
    document = json.loads(result.out)
    (loaded,) = document["loaded"]
    (pushed_entry,) = document["pushed"]
    created.append(loaded)
    swap_wheels = folder / "swap"
    wheel = build_wheel(BETA_11, swap_wheels)
    swapped = f"envbuild-test/swapped:{uuid.uuid4().hex[:8]}"
    container = engine.containers.run(
        loaded, ["python3", "-c", SWAP, f"/swap/{wheel.name}", "beta"], detach=True,
        network_mode="none", volumes={str(swap_wheels): {"bind": "/swap", "mode": "ro"}})
    try:
        assert container.wait()["StatusCode"] == 0, container.logs().decode()
        repo, tag = swapped.split(":")
        container.commit(repository=repo, tag=tag)
        created.append(swapped)
    finally:
        container.remove(force=True)
    pinned = f"{repository}@{pushed_entry['digest']}"
    yield Pushed(project=project, loaded=loaded, pinned=pinned, swapped=swapped, dataset=dataset)
    from docker.errors import ImageNotFound  # type: ignore[import-untyped]

    for image in [*created, pinned]:  # the Job test pulls `pinned`
        with contextlib.suppress(ImageNotFound):
            engine.images.remove(image, force=True)


def run(engine: Any, image: str, command: list[str] | None = None, *, keep: str | None = None,
        **options: Any) -> Ran:
    """Run to the end with no network; `keep`: a path to copy out of the stopped container."""
    container = engine.containers.run(image, command, detach=True, network_mode="none",
                                      **options)
    try:
        status = container.wait()["StatusCode"]
        files: dict[str, bytes] = {}
        if keep is not None:
            stream, _ = container.get_archive(keep)
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
                files = {m.name: archive.extractfile(m).read()  # type: ignore[union-attr]
                         for m in archive.getmembers() if m.isfile()}
        return Ran(status=status, out=container.logs(stderr=False).decode(),
                   err=container.logs(stdout=False).decode(), files=files)
    finally:
        container.remove(force=True)


# --- 1. the image's verifier -------------------------------------------------------------


def test_verifier_in_the_image_passes_then_names_the_swapped_package(
        engine: Any, pushed: Pushed) -> None:
    clean = run(engine, pushed.loaded, VERIFY)
    assert clean.status == 0, clean.err
    verdict = json.loads(clean.out)
    assert (verdict["ok"], verdict["target"], verdict["mismatches"]) == (True, TARGET, []), clean
    assert verdict["facts"]["locked"] == 3
    assert f"verified: target {TARGET}" in clean.err

    swapped = run(engine, pushed.swapped, VERIFY)
    assert swapped.status == 1, swapped
    verdict = json.loads(swapped.out)
    assert verdict["ok"] is False
    assert verdict["mismatches"] == [{"kind": "version", "package": "beta",
                                      "detail": "locked at 1.0, installed 1.1"}]
    assert (f"target {TARGET}: 1 mismatch\n  version: beta: locked at 1.0, installed 1.1"
            in swapped.err)


# --- 2. the emitted Job's container ------------------------------------------------------


def emit_job(project: Project, out: Path, *,
             manifest: Path | None = None) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """`envbuild cluster --provider kubernetes` with the digest `image --push` recorded."""
    result = run_cli(["cluster", "-f", str(manifest or project.manifest), "--provider",
                      "kubernetes", "-o", str(out)])
    assert result.code == 0, result.err
    documents = list(yaml.safe_load_all((out / "kubernetes" / "a10g.yaml").read_text()))
    config_maps = {d["metadata"]["name"]: d for d in documents if d["kind"] == "ConfigMap"}
    (job,) = [d for d in documents if d["kind"] == "Job"]
    return job, config_maps


def as_docker_run(job: Mapping[str, Any], config_maps: Mapping[str, Mapping[str, Any]],
                  folder: Path, *, extra_env: Mapping[str, str]) -> dict[str, Any]:
    """The Job's GPU container as `docker run` options, as the kubelet would start pod 0.

    `command` replaces the image's entrypoint and `args` its CMD; the completion index is 0;
    a ConfigMap volume is its data as files, mounted where the Job mounts it; a hostPath
    is that folder bound, read-only where the mount says; a memory emptyDir is a tmpfs.
    """
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env: dict[str, str] = {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            assert item["valueFrom"]["fieldRef"]["fieldPath"] == COMPLETION_INDEX, item
            env[item["name"]] = "0"
    env.update(extra_env)
    volumes: dict[str, dict[str, str]] = {}
    tmpfs: dict[str, str] = {}
    by_name = {v["name"]: v for v in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        volume = by_name[mount["name"]]
        if "configMap" in volume:
            data = folder / volume["name"]
            data.mkdir()
            for key, text in config_maps[volume["configMap"]["name"]]["data"].items():
                (data / key).write_text(text, encoding="utf-8")
            volumes[str(data)] = {"bind": mount["mountPath"],
                                  "mode": "ro" if mount.get("readOnly") else "rw"}
        elif "hostPath" in volume:
            volumes[volume["hostPath"]["path"]] = {
                "bind": mount["mountPath"], "mode": "ro" if mount.get("readOnly") else "rw"}
        else:
            assert volume["emptyDir"] == {"medium": "Memory"}, volume
            tmpfs[mount["mountPath"]] = ""

    # One node: no rendezvous variables, so no `$(VAR)` for the kubelet to expand.
    command, args = container.get("command"), container.get("args")
    assert not any("$(" in word for word in [*command, *(args or [])]), command
    return {"entrypoint": command, "command": args, "environment": env, "volumes": volumes,
            "tmpfs": tmpfs}


def run_record(ran: Ran) -> dict[str, Any]:
    """The one run record the runner wrote (`keep` was its folder)."""
    (record,) = [json.loads(data) for name, data in ran.files.items()
                 if name.startswith("runs/run-") and name.endswith(".json")]
    assert isinstance(record, dict)
    return record


def test_job_command_verifies_then_starts_the_run_command(
        engine: Any, pushed: Pushed, tmp_path: Path) -> None:
    job, config_maps = emit_job(pushed.project, tmp_path / "out")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["image"] == pushed.pinned  # the digest `image --push` recorded
    engine.images.pull(pushed.pinned)  # as a node would: by digest from the registry
    options = as_docker_run(job, config_maps, tmp_path, extra_env={"ENVBUILD_NO_HARDWARE": "1"})
    torchrun = ["torchrun", "--nproc-per-node=1", "--nnodes=1", "--standalone", "--no-python"]
    assert options["entrypoint"][:4] == ["python3", "-I", "/opt/envbuild/runtime", "run"]
    assert options["entrypoint"][-len(RUN) - 6:] == ["--", *torchrun, *RUN]

    # The run record lands in the workdir (/workspace/.envbuild/runs): kept from the container.
    ran = run(engine, pushed.pinned, keep="/workspace/.envbuild/runs", **options)
    assert ran.status == 0, ran
    assert "note: hardware not checked (--no-hardware)" in ran.err
    lines = ran.out.splitlines()
    assert lines[0] == " ".join(["torchrun stand-in:", *torchrun[1:]])
    assert lines[1:] == [f"{STARTED} 1.0 0 {SEED}", SAMPLE]
    assert options["volumes"][str(pushed.dataset)] == {"bind": MOUNT, "mode": "ro"}
    # The pod asks for at least the image's unpacked size, which `image --push` recorded.
    records = json.loads((pushed.project.folder / "envbuild.lock.d" / "images.json").read_text())
    unpacked = records["targets"][TARGET]["unpacked_bytes"]
    inspected = engine.api.inspect_image(pushed.pinned)
    # The tars' sizes: the engine's unpacked size plus tar headers and padding (a few %).
    assert inspected["Size"] <= unpacked <= inspected["Size"] * 11 // 10, (unpacked, inspected)
    requested = container["resources"]["requests"]["ephemeral-storage"]
    assert requested == f"{-(-unpacked // (1 << 30))}Gi"
    record = run_record(ran)
    assert record["verify"]["ok"] is True and record["verify"]["mismatches"] == []
    assert (record["started"], record["exit_status"]) == (True, 0)
    assert record["command"][0] == "torchrun" and record["command"][-len(RUN):] == RUN
    assert record["image_digest"] == pushed.pinned.split("@")[1]
    assert record["lock_hash"] == job["metadata"]["annotations"]["envbuild.dev/lock-hash"]
    assert record["target_hash"] == job["metadata"]["annotations"]["envbuild.dev/target-hash"]


def test_job_command_without_a_launcher_runs_the_command_as_written(
        engine: Any, pushed: Pushed, tmp_path: Path) -> None:
    # The same project with `[run] launcher = "none"`, as a target without torch gets it.
    folder = tmp_path / "project"
    shutil.copytree(pushed.project.folder, folder, ignore=shutil.ignore_patterns(".envbuild"))
    manifest = folder / pushed.project.manifest.name
    manifest.write_text(manifest.read_text().replace("[run]\n", '[run]\nlauncher = "none"\n'))
    job, config_maps = emit_job(pushed.project, tmp_path / "out", manifest=manifest)
    options = as_docker_run(job, config_maps, tmp_path, extra_env={"ENVBUILD_NO_HARDWARE": "1"})
    assert options["entrypoint"][-len(RUN) - 1:] == ["--", *RUN]
    ran = run(engine, pushed.pinned, keep="/workspace/.envbuild/runs", **options)
    assert ran.status == 0, ran
    assert ran.out.splitlines() == [f"{STARTED} 1.0 0 {SEED}", SAMPLE]  # the dataset is mounted too
    record = run_record(ran)
    assert (record["command"], record["exit_status"], record["ended"]) == (
        RUN, 0, "exited with status 0")


def test_job_command_on_a_swapped_environment_never_starts(
        engine: Any, pushed: Pushed, tmp_path: Path) -> None:
    job, config_maps = emit_job(pushed.project, tmp_path / "out")
    options = as_docker_run(job, config_maps, tmp_path, extra_env={"ENVBUILD_NO_HARDWARE": "1"})
    ran = run(engine, pushed.swapped, keep="/workspace/.envbuild/runs", **options)
    assert ran.status == 1, ran
    assert "version: beta: locked at 1.0, installed 1.1" in ran.err
    assert "torchrun was not started" in ran.err
    assert "torchrun stand-in" not in ran.out and STARTED not in ran.out
    record = run_record(ran)
    assert (record["started"], record["exit_status"]) == (False, None)
    assert record["verify"]["mismatches"] == [{"kind": "version", "package": "beta",
                                               "detail": "locked at 1.0, installed 1.1"}]


def test_job_command_without_no_hardware_checks_the_gpu_and_never_starts(
        engine: Any, pushed: Pushed, tmp_path: Path) -> None:
    # The engine's containers see no GPU: the same command, without ENVBUILD_NO_HARDWARE=1,
    # refuses to start, so the variable is what the passing run above depended on.
    job, config_maps = emit_job(pushed.project, tmp_path / "out")
    options = as_docker_run(job, config_maps, tmp_path, extra_env={})
    ran = run(engine, pushed.loaded, **options)
    assert ran.status == 1, ran
    assert "no-gpu: " in ran.err and "torchrun was not started" in ran.err
    assert STARTED not in ran.out


# --- 3. preemption ------------------------------------------------------------------------

# Says when it is ready, then waits; on SIGTERM it says so and dies of the signal.
SLEEPER = """\
import os, signal, sys, time
def got(signum, _frame):
    print("command got", signal.Signals(signum).name, flush=True)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
signal.signal(signal.SIGTERM, got)
print("ready", flush=True)
while True:
    time.sleep(0.05)
"""


def test_docker_stop_reaches_the_command_through_the_runner(engine: Any, pushed: Pushed) -> None:
    """`docker stop` signals PID 1 only, as the kubelet does: the image's runner passes the
    SIGTERM on, waits for the command, and records how it ended."""
    import time

    container = engine.containers.run(
        pushed.loaded, ["python3", "-I", "/opt/envbuild/runtime", "run", "--no-hardware", "--",
                        "python3", "-c", SLEEPER], detach=True, network_mode="none")
    try:
        deadline = time.monotonic() + 60
        while b"ready" not in container.logs(stderr=False):
            assert time.monotonic() < deadline, container.logs().decode()
            time.sleep(0.1)
        container.stop(timeout=30)  # SIGTERM, then SIGKILL after 30 s
        status = container.wait()["StatusCode"]
        out = container.logs(stderr=False).decode()
        err = container.logs(stdout=False).decode()
        stream, _ = container.get_archive("/workspace/.envbuild/runs")
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
            files = {m.name: archive.extractfile(m).read()  # type: ignore[union-attr]
                     for m in archive.getmembers() if m.isfile()}
    finally:
        container.remove(force=True)
    assert status == 143, (out, err)
    assert out.splitlines() == ["ready", "command got SIGTERM"]
    assert "note: terminated by SIGTERM (exit status 143); run record: " in err
    record = run_record(Ran(status=status, out=out, err=err, files=files))
    assert (record["terminated_by"], record["signal"], record["exit_status"]) == (
        "SIGTERM", "SIGTERM", 143)


# --- 4. the sbatch script's container mode on the local Slurm -----------------------------

# pyxis is a SPANK plugin the local Slurm lacks; this stand-in for `srun` with it takes the
# same options and runs the image in the Docker engine as pyxis would in enroot: the
# enroot reference (`host#repository@digest`), each `SRC:DST[:ro]` mount, the job's
# ENVBUILD_* variables, then the command.
PYXIS = """#!/bin/bash
set -euo pipefail
image= mounts=()
while [ $# -gt 0 ]; do
  case "$1" in
    --container-image=*) image="${1#*=}"; image="${image/\\#//}"; shift ;;
    --container-mounts=*) IFS=, read -ra parts <<< "${1#*=}"
                          for m in "${parts[@]}"; do mounts+=(-v "$m"); done; shift ;;
    --*) shift ;;
    *) break ;;
  esac
done
env_args=()
for name in $(compgen -e | grep '^ENVBUILD_'); do env_args+=(-e "$name"); done
docker pull -q "$image" >/dev/null
exec docker run --rm --network none "${mounts[@]}" "${env_args[@]}" "$image" "$@"
"""


@pytest.mark.slurm
def test_sbatch_container_mode_runs_the_pushed_image_with_its_dataset(
        pushed: Pushed, tmp_path: Path, slurm_conf: Path) -> None:
    if shutil.which("docker") is None:
        pytest.skip("the pyxis stand-in needs the docker command line")
    out = tmp_path / "out"
    result = run_cli(["cluster", "-f", str(pushed.project.manifest), "--provider", "slurm",
                      "-o", str(out)])
    assert result.code == 0, result.err
    script = (out / "slurm" / "a10g.sbatch").read_text()
    assert "# Mode container:" in script  # the default where `image --push` recorded one
    assert f",{pushed.dataset}:{MOUNT}:ro" in script
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text(PYXIS, encoding="utf-8")
    (bin_dir / "srun").chmod(0o755)
    env = {**os.environ, "SLURM_CONF": str(slurm_conf), "ENVBUILD_NO_HARDWARE": "1",
           "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    # The local node declares H100 gres only: the command line overrides the script's a10g.
    done = subprocess.run(["sbatch", "--wait", "--parsable", "--gres=gpu:h100:1",
                           str(out / "slurm" / "a10g.sbatch")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, check=False, timeout=300)
    job = done.stdout.strip().split(";")[0]
    log_path = tmp_path / f"{script.split('--job-name=')[1].split()[0]}-{job}.out"
    log = log_path.read_text() if log_path.is_file() else done.stderr
    assert done.returncode == 0, log
    lines = [line for line in log.splitlines() if not line.startswith(("note:", "verified"))]
    assert lines == ["torchrun stand-in: --nproc-per-node=1 --nnodes=1 --standalone --no-python",
                     f"{STARTED} 1.0 0 {SEED}", SAMPLE], log
