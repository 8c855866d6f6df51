"""Every refusal of `envbuild cluster`: exit 2, the exact message, and nothing written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from envbuild.cluster.images import write_record
from envbuild.lockfile import load
from tests.cluster.support import CLUSTER, RUN, TARGETS, run_cluster, write_project

NOTHING = "hint: nothing was written; fix the problems above\n"


def _gpu(name: str) -> str:
    return CLUSTER.replace('gpu = "H100"', f'gpu = "{name}"')


CASES: dict[str, tuple[dict[str, Any], tuple[str, ...], str]] = {
    "unknown-gpu": ({"cluster": _gpu("H10")}, (),
                    'envbuild.toml:19: cluster.pools.h100.gpu: unknown GPU "H10"; did you mean '
                    '"H100"?\n'),
    "gpu-not-in-target": (
        {"cluster": _gpu("A100")}, (),
        "envbuild.toml:19: cluster.pools.h100.gpu: GPU A100 is not one of target \"h100\"'s "
        'GPUs (H100); its build was checked for those only. Fix: add "A100" to [targets.h100] '
        "gpus and run `envbuild lock`, or use one of its GPUs\n"),
    "cpu-target": (
        {"cluster": CLUSTER.replace('target = "h100"', 'target = "cpu"')}, (),
        'envbuild.toml:19: cluster.pools.h100.gpu: target "cpu" is a CPU build (no cuda); it '
        "cannot use GPU H100. Fix: point the pool at a CUDA target\n"),
    "build-too-old-for-gpu": (
        {"cluster": _gpu("B200"), "gpus": ()}, ("--provider", "eks"),
        "envbuild.toml:19: cluster.pools.h100.gpu: GPU B200 (sm_100) needs a CUDA 12.8 or newer "
        'build; target "h100" is CUDA 12.4\n'),
    "no-gke-mapping": (
        {"cluster": _gpu("A10G"), "gpus": ("A10G",)}, (),
        "envbuild.toml:19: cluster.pools.h100.gpu: GKE offers no A10G (envbuild's hardware data "
        'has no GKE accelerator type for it); drop "gke" from cluster.providers or use another '
        "GPU\n"),
    "no-karpenter-mapping": (
        {"cluster": _gpu("RTX PRO 6000"), "gpus": ("RTX PRO 6000",), "cuda": "12.8"},
        ("--provider", "karpenter"),
        "envbuild.toml:19: cluster.pools.h100.gpu: envbuild knows no EC2 GPU name "
        "(karpenter.k8s.aws/instance-gpu-name) for RTX PRO 6000 on amd64; drop \"karpenter\" from "
        "cluster.providers or use another GPU\n"),
    "run-larger-than-pool": (
        {"run": RUN.replace("nodes = 2", "nodes = 5")}, (),
        'envbuild.toml:26: run.nodes: 5 nodes, but pool "h100" has at most 4; raise '
        "cluster.pools.h100.nodes.max or lower run.nodes\n"),
    "no-run-section": (
        {"run": ""}, ("--provider", "kubernetes"),
        "envbuild.toml: no [run] section, which the Job and the sbatch script run; add [run] "
        'command = ["python3", "-m", "train"]\n'),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_refusals_name_the_key_and_the_fix(tmp_path: Path, case: str) -> None:
    project_kwargs, args, message = CASES[case]
    project = write_project(tmp_path, **project_kwargs)
    result = run_cluster(project, *args)
    assert result.code == 2
    assert result.err == f"error: {message}{NOTHING}"
    assert not (project / "out").exists()


def test_unknown_target_is_a_manifest_problem(tmp_path: Path) -> None:
    project = write_project(tmp_path, cluster=CLUSTER.replace('target = "h100"',
                                                              'target = "h200"'))
    result = run_cluster(project)
    assert result.code == 2
    assert result.err == (
        "error: 1 problem found\n"
        'envbuild.toml:18: cluster.pools.h100.target: unknown target "h200"; did you mean '
        '"h100"?\n'
        f"hint: fix the problems above in {project / 'envbuild.toml'}\n")


def test_target_in_manifest_but_not_in_lock(tmp_path: Path) -> None:
    targets = TARGETS + '\n[targets.l4]\nplatform = "linux/amd64"\ncuda = "12.4"\ngpus = ["L4"]\n'
    project = write_project(tmp_path, targets=targets,
                            cluster=CLUSTER.replace('target = "h100"', 'target = "l4"'))
    result = run_cluster(project)
    assert result.code == 2
    assert result.err == (
        'error: envbuild.toml:23: cluster.pools.h100.target: target "l4" is not in envbuild.lock '
        "(targets: cpu, h100); declare it under [targets] and run `envbuild lock`\n" + NOTHING)


def test_no_image_is_an_error_never_a_tag(tmp_path: Path) -> None:
    project = write_project(tmp_path)
    result = run_cluster(project, image=None)
    assert result.code == 2
    assert result.err == (
        'error: target "h100": no image digest; pass --image REGISTRY/REPO@sha256:<digest> or '
        "run `envbuild image --push --target h100` (it records the digest in "
        "envbuild.lock.d/images.json)\n" + NOTHING)


def test_an_image_by_tag_is_refused(tmp_path: Path) -> None:
    result = run_cluster(write_project(tmp_path), image="registry.example.com/team/app:v1")
    assert result.code == 2
    assert result.err == (
        "error: --image registry.example.com/team/app:v1: not pinned by digest; cluster specs "
        "name images by digest only, never by tag\n"
        "hint: pass --image REGISTRY/REPO@sha256:<64 hex> (or TARGET=...), or run `envbuild "
        "image --push`, which records the digest beside the lock\n")


def test_an_image_of_an_older_lock_is_refused(tmp_path: Path) -> None:
    project = write_project(tmp_path)
    old = "sha256:" + "0" * 64
    write_record(project / "envbuild.lock", "h100", ref="registry.example.com/team/app",
                 digest="sha256:" + "2" * 64, image_hash="sha256:" + "3" * 64, target_hash=old)
    result = run_cluster(project, image=None)
    locked = load(project / "envbuild.lock").targets["h100"].hash
    assert result.code == 2
    assert result.err == (
        'error: target "h100": the image in envbuild.lock.d/images.json was built from target '
        f"hash {old}, the lock has {locked}; run `envbuild image --push --target h100` "
        "or pass --image\n" + NOTHING)


def test_strict_turns_placeholders_into_errors(tmp_path: Path) -> None:
    project = write_project(tmp_path)
    result = run_cluster(project, "--strict", "--provider", "eks")
    assert result.code == 2
    assert result.err == (
        "error: --strict: 5 account-specific settings are not set:\n"
        "  cluster.eks.cluster-name (eks)\n  cluster.eks.node-role-arn (eks)\n"
        "  cluster.eks.subnet-ids (eks)\n  cluster.eks.release-version (eks)\n"
        "  the unpacked size of target h100's image (image)\n"
        'hint: set them in envbuild.toml (for example cluster.eks.cluster-name = "..."); run '
        "`envbuild image --push` to record the image's size, or emit without --strict\n")
    assert not (project / "out").exists()


def test_without_strict_placeholders_are_listed_in_a_warning(tmp_path: Path) -> None:
    project = write_project(tmp_path)
    result = run_cluster(project, "--provider", "eks", "--provider", "karpenter", "--json")
    assert result.code == 0, result.err
    assert result.err.splitlines()[:3] == [
        "warning: 7 account-specific settings are not set; emitted as Terraform variables or "
        "marked placeholders (--strict makes this an error):",
        "  karpenter: cluster.karpenter.role is not set; emitted as "
        "REPLACE-ME(cluster.karpenter.role)",
        "  karpenter: cluster.karpenter.discovery is not set; emitted as "
        "REPLACE-ME(cluster.karpenter.discovery)",
    ]
    document = json.loads(result.out)
    assert {p["emitted_as"] for p in document["placeholders"]} >= {"var.cluster_name",
                                                                   "var.subnet_ids"}


def test_all_problems_of_all_providers_come_together(tmp_path: Path) -> None:
    project = write_project(tmp_path, cluster=_gpu("RTX PRO 6000"), gpus=("RTX PRO 6000",),
                            cuda="12.8")
    result = run_cluster(project, "--provider", "karpenter", "--provider", "gke")
    assert result.code == 2
    lines = result.err.splitlines()
    assert lines[0].startswith("error: envbuild.toml:19: cluster.pools.h100.gpu: envbuild knows "
                               "no EC2 GPU name")
    assert len(lines) == 2 and lines[1] == NOTHING.strip()  # GKE has an RTX PRO 6000
