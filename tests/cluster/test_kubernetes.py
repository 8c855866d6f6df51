"""The Job, Service and ConfigMap, validated offline against the upstream Kubernetes schemas."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

from envbuild.lockfile import load
from envbuild.lockfile.model import SystemPackage
from tests.cluster.support import (
    CLUSTER,
    DIGEST,
    H100_PACKAGES,
    IMAGE,
    RUN,
    run_cluster,
    write_project,
)
from tests.runtime.envs import lock_hash_of
from tests.support.locks import sealed, write_lock

yaml = pytest.importorskip("yaml", reason="PyYAML reads the emitted YAML back")


def lock_hash(project: Path) -> str:
    return lock_hash_of(project / "envbuild.lock")


def emitted(project: Path, *args: str) -> list[dict[str, Any]]:
    result = run_cluster(project, "--provider", "kubernetes", *args)
    assert result.code == 0, result.err
    return list(yaml.safe_load_all((project / "out" / "kubernetes" / "h100.yaml").read_text()))


def by_kind(documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in documents}


def test_objects_pass_the_upstream_schemas(project: Path) -> None:
    validate = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate is not installed (pip install "
                                      "kubernetes-validate)").validate
    documents = emitted(project)
    assert [d["kind"] for d in documents] == ["ConfigMap", "Service", "Job"]
    for document in documents:
        validate(document, "1.32.0", strict=True)  # raises on any unknown or invalid field


def test_the_validator_catches_what_it_should(project: Path) -> None:
    kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate is not installed")
    job = by_kind(emitted(project))["Job"]
    job["spec"]["template"]["spec"]["containers"][0]["gpus"] = 8
    with pytest.raises(kv.ValidationError):
        kv.validate(job, "1.32.0", strict=True)


def test_job_runs_the_image_by_digest_behind_the_preflight(project: Path) -> None:
    job = by_kind(emitted(project))["Job"]
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 2, 2)
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == IMAGE
    # Kubernetes alone knows no machine: no CPU or memory request is guessed (a warning).
    assert container["resources"] == {"limits": {"nvidia.com/gpu": 8}, "requests": {
        "nvidia.com/gpu": 8, "ephemeral-storage": "16Gi"}}
    command = container["command"]
    assert command[:4] == ["python3", "-I", "/opt/envbuild/runtime", "run"]
    assert command[command.index("--lock-hash") + 1] == lock_hash(project)
    assert command[command.index("--") + 1:] == [
        "torchrun", "--nproc-per-node=8", "--nnodes=2", "--node-rank=$(NODE_RANK)",
        "--master-addr=demo-h100-0.demo-h100", "--master-port=29500", "-m", "train"]
    env = {e["name"]: e for e in container["env"]}
    assert env["NODE_RANK"]["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.annotations['batch.kubernetes.io/job-completion-index']")
    assert env["ENVBUILD_IMAGE_DIGEST"]["value"] == DIGEST
    assert pod["subdomain"] == "demo-h100"
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists",
                                   "effect": "NoSchedule"}]
    assert spec["template"]["metadata"]["annotations"]["karpenter.sh/do-not-disrupt"] == "true"
    assert not pod.get("initContainers")  # an init container without a GPU sees none


def test_lock_hash_in_full_and_as_a_valid_label(project: Path) -> None:
    job = by_kind(emitted(project))["Job"]
    for meta in (job["metadata"], job["spec"]["template"]["metadata"]):
        assert meta["annotations"]["envbuild.dev/lock-hash"] == lock_hash(project)
        label = meta["labels"]["envbuild.dev/lock-hash"]
        assert len(label) == 63 and ":" not in label
        assert re.fullmatch(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?", label)
        assert label == "sha256-" + lock_hash(project).removeprefix("sha256:")[:56]


def test_node_affinity_on_gfd_product_and_driver_floor(project: Path) -> None:
    job = by_kind(emitted(project))["Job"]
    terms = job["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms[0]["matchExpressions"] == [
        {"key": "nvidia.com/gpu.product", "operator": "In",
         "values": ["NVIDIA-H100-80GB-HBM3", "NVIDIA-H100-PCIe", "NVIDIA-H100-NVL"]},
        # floor 550.54.14: major 550 or above is "Gt 549"
        {"key": "nvidia.com/cuda.driver-version.major", "operator": "Gt", "values": ["549"]}]
    assert terms[1]["matchExpressions"] == [
        {"key": "envbuild.dev/pool", "operator": "In", "values": ["h100"]},
        {"key": "nvidia.com/gpu.product", "operator": "DoesNotExist"}]


def test_affinity_on_compute_capability(tmp_path: Path) -> None:
    project = write_project(tmp_path, cluster=CLUSTER + 'gpu-match = "compute-capability"\n')
    job = by_kind(emitted(project))["Job"]
    first = job["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
    assert first["matchExpressions"][:2] == [
        {"key": "nvidia.com/gpu.compute.major", "operator": "In", "values": ["9"]},
        {"key": "nvidia.com/gpu.compute.minor", "operator": "In", "values": ["0"]}]


def test_config_map_holds_the_runner_target_document(project: Path) -> None:
    config = by_kind(emitted(project))["ConfigMap"]
    document = json.loads(config["data"]["target.json"])
    assert document["target"] == "h100" and document["lock_hash"] == lock_hash(project)
    from envbuild.runtime.target import spec_from_payload

    spec = spec_from_payload(document, source="configmap")
    assert spec.driver_floor == "550.54.14" and [p.name for p in spec.packages] == sorted(H100_PACKAGES)


def test_single_node_runs_standalone_without_a_service(tmp_path: Path) -> None:
    project = write_project(tmp_path, run=RUN.replace("nodes = 2", "nodes = 1"))
    documents = by_kind(emitted(project))
    assert "Service" not in documents
    command = documents["Job"]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[command.index("torchrun"):] == [
        "torchrun", "--nproc-per-node=8", "--nnodes=1", "--standalone", "-m", "train"]


def test_output_is_deterministic(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = write_project(tmp_path / "a")
    b = write_project(tmp_path / "b")
    assert run_cluster(a).code == 0 and run_cluster(b).code == 0
    files_a = sorted(p.relative_to(a / "out") for p in (a / "out").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b / "out") for p in (b / "out").rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) == 9
    for relative in files_a:
        assert (a / "out" / relative).read_bytes() == (b / "out" / relative).read_bytes()


def test_container_command_verifies_then_starts_the_run_command(tmp_path: Path) -> None:
    """The Job's command, run as the container would run it (image paths mapped to folders
    here, no Docker), with ENVBUILD_NO_HARDWARE=1: verifies, then starts torchrun."""
    import subprocess

    from envbuild.runtime.bundle import write_tree
    from tests.runtime.envs import build_wheels, make_venv

    project = write_project(tmp_path)
    (tmp_path / "wheels").mkdir()
    # A torch stand-in distribution (the lock's torch 2.5.1): the check sees it installed.
    python = make_venv(tmp_path / "venv", build_wheels(tmp_path / "wheels", H100_PACKAGES),
                       [f"{name}=={version}" for name, version in H100_PACKAGES.items()])
    bundle = write_tree(tmp_path / "runtime")
    documents = by_kind(emitted(project))
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "target.json").write_text(documents["ConfigMap"]["data"]["target.json"])
    (python.parent / "torchrun").write_text('#!/bin/sh\necho "torchrun started: $*"\n')
    (python.parent / "torchrun").chmod(0o755)
    command = documents["Job"]["spec"]["template"]["spec"]["containers"][0]["command"]
    mapped = [str(python) if a == "python3" else str(bundle) if a == "/opt/envbuild/runtime"
              else a.replace("/etc/envbuild", str(tmp_path / "etc")) for a in command]
    env = {"PATH": f"{python.parent}:/usr/bin:/bin", "ENVBUILD_NO_HARDWARE": "1",
           "NODE_RANK": "0", "ENVBUILD_RUN_RECORD": str(tmp_path / "run.json")}
    done = subprocess.run([a.replace("$(NODE_RANK)", "0") for a in mapped], env=env,
                          capture_output=True, text=True, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ("torchrun started: --nproc-per-node=8 --nnodes=2 --node-rank=0 "
                           "--master-addr=demo-h100-0.demo-h100 --master-port=29500 -m train\n")
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["lock_hash"] == lock_hash(project) and record["started"] is True


def test_a_system_built_image_starts_the_runner_with_its_debian_python(project: Path) -> None:
    # base = "system": the image has Debian's /usr/bin/python3.11 (locked for it), and a
    # `python3` link only when the distribution's default Python is the target's.
    lock_path = project / "envbuild.lock"
    lock = load(lock_path)
    libc = SystemPackage(name="libc6", version="2.36-9", architecture="amd64", archive="default",
                         path="pool/main/g/glibc/libc6_2.36-9_amd64.deb", size=1, hash="sha256:" + "2" * 64)
    h100 = dataclasses.replace(lock.targets["h100"], base="system",
                               system_distribution="debian:bookworm", system=(libc,))
    write_lock(lock_path, sealed(dataclasses.replace(lock, targets={**lock.targets, "h100": h100})))
    command = by_kind(emitted(project))["Job"]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[:4] == ["/usr/bin/python3.11", "-I", "/opt/envbuild/runtime", "run"]
