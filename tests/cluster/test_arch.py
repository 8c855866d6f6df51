"""arm64 targets get arm64 machines (Graviton, G5g, T2A) on every node provider, and a pool
naming a machine of another architecture is refused before anything is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.cluster.support import RUN, manifest_text, run_cluster
from tests.cluster.test_karpenter import schemas  # noqa: F401  (the CRD schemas fixture)
from tests.cluster.test_terraform import aws_plugin_dir, needs_terraform, terraform
from tests.runtime.envs import target, write_lock

yaml = pytest.importorskip("yaml", reason="PyYAML reads the emitted YAML back")
jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed")

ARM_TARGETS = """
[targets.arm]
platform = "linux/arm64"

[targets.armgpu]
platform = "linux/arm64"
cuda = "12.4"
gpus = ["T4"]
"""
ARM_POOLS = """
[cluster]
providers = ["kubernetes", "karpenter", "gke", "eks", "slurm"]

[cluster.gke]
project = "demo-project"
location = "us-central1"

[cluster.pools.armprep]
target = "arm"
cpu = 2
memory = "4Gi"
nodes = { min = 0, max = 3 }
"""
T4_POOL = """
[cluster.pools.armt4]
target = "armgpu"
gpu = "T4"
gpus-per-node = 1
nodes = 1
"""
NOTHING = "\nhint: nothing was written; fix the problems above\n"


def arm_project(folder: Path, cluster: str) -> Path:
    (folder / "envbuild.toml").write_text(manifest_text(cluster, RUN.replace("nodes = 2", "nodes = 1"),
                                                        ARM_TARGETS), encoding="utf-8")
    write_lock(folder / "envbuild.lock",
               target("arm", {"alpha": "1.0"}, platform="linux/arm64"),
               target("armgpu", {"alpha": "1.0"}, platform="linux/arm64", cuda="12.4",
                      gpus=("T4",), driver_floor="550.54.14"))
    return folder


def yaml_documents(path: Path) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in yaml.safe_load_all(path.read_text())}


def test_an_arm64_cpu_pool_gets_graviton_and_t2a_machines(
        tmp_path: Path, schemas: dict[str, Any]) -> None:  # noqa: F811
    project = arm_project(tmp_path, ARM_POOLS)
    result = run_cluster(project)
    assert result.code == 0, result.err
    out = project / "out"
    # 2 CPUs: a 2-vCPU machine keeps too little after the reserve; the 4-vCPU Arm ones fit.
    eks = (out / "eks" / "armprep.tf").read_text()
    assert 'ami_type        = "AL2023_ARM_64_STANDARD"' in eks
    assert 'instance_types  = ["m7g.xlarge"]' in eks
    gke = (out / "gke" / "armprep.tf").read_text()
    assert 'machine_type = "t2a-standard-4"' in gke
    node_pool = yaml_documents(out / "karpenter" / "armprep.yaml")["NodePool"]
    requirements = {r["key"]: (r["operator"], r["values"])
                    for r in node_pool["spec"]["template"]["spec"]["requirements"]}
    assert requirements["kubernetes.io/arch"] == ("In", ["arm64"])
    # At most twice m7g.xlarge's 4 vCPUs, nodes.max = 3 of them under the limit.
    assert requirements["karpenter.k8s.aws/instance-cpu"] == ("Lt", ["9"])
    assert node_pool["spec"]["limits"] == {"cpu": 3 * 8}
    for document in yaml.safe_load_all((out / "karpenter" / "armprep.yaml").read_text()):
        jsonschema.validate(document, schemas[document["kind"]])
    job = yaml_documents(out / "kubernetes" / "armprep.yaml")["Job"]
    assert job["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"] == [
        {"matchExpressions": [
            {"key": "envbuild.dev/pool", "operator": "In", "values": ["armprep"]},
            {"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64"]}]}]


def test_an_arm64_gpu_pool_gets_g5g(tmp_path: Path, schemas: dict[str, Any]) -> None:  # noqa: F811
    project = arm_project(tmp_path, ARM_POOLS + T4_POOL)
    result = run_cluster(project, "--provider", "eks", "--provider", "karpenter",
                         "--provider", "slurm")
    assert result.code == 0, result.err
    eks = (project / "out" / "eks" / "armt4.tf").read_text()
    assert 'ami_type        = "AL2023_ARM_64_NVIDIA"' in eks
    assert 'instance_types  = ["g5g.xlarge"]' in eks
    documents = yaml_documents(project / "out" / "karpenter" / "armt4.yaml")
    requirements = {r["key"]: r["values"]
                    for r in documents["NodePool"]["spec"]["template"]["spec"]["requirements"]}
    assert requirements["karpenter.k8s.aws/instance-gpu-name"] == ["t4g"]
    assert requirements["kubernetes.io/arch"] == ["arm64"]
    for document in documents.values():
        jsonschema.validate(document, schemas[document["kind"]])


def test_an_arm64_gpu_pool_on_gke_gets_no_x86_machine(tmp_path: Path) -> None:
    project = arm_project(tmp_path, ARM_POOLS + T4_POOL)
    result = run_cluster(project, "--provider", "gke")
    assert result.code == 0, result.err
    # GKE has no Arm T4 machine: the type is left to a variable (a warning), never n1.
    gke = (project / "out" / "gke" / "armt4.tf").read_text()
    assert "machine_type = var.armt4_machine_type" in gke and "n1-standard" not in gke


def test_x86_machines_named_for_an_arm64_target_are_refused(tmp_path: Path) -> None:
    project = arm_project(tmp_path, ARM_POOLS + 'instance-types = ["m7i.xlarge", "m7g.xlarge"]\n'
                                                'machine-type = "n2-standard-4"\n')
    result = run_cluster(project)
    assert result.code == 2
    assert result.err == (
        'error: envbuild.toml:25: cluster.pools.armprep.instance-types: pool "armprep" names '
        '"m7i.xlarge", an amd64 machine, but target "arm" is linux/arm64; name arm64 machines '
        '(for example "m7g.xlarge") or point the pool at an amd64 target\n'
        'envbuild.toml:26: cluster.pools.armprep.machine-type: pool "armprep" names '
        '"n2-standard-4", an amd64 machine, but target "arm" is linux/arm64; name arm64 machines '
        '(for example "t2a-standard-4") or point the pool at an amd64 target' + NOTHING)
    assert not (project / "out").exists()


@needs_terraform
def test_the_arm64_eks_module_validates_offline(tmp_path: Path) -> None:
    plugins = aws_plugin_dir()
    if plugins is None:
        pytest.skip("no terraform-provider-aws mirrored")
    (tmp_path / "project").mkdir()
    project = arm_project(tmp_path / "project", ARM_POOLS + T4_POOL)
    result = run_cluster(project, "--provider", "eks")
    assert result.code == 0, result.err
    module = project / "out" / "eks"
    init = terraform(["init", "-backend=false", "-input=false", f"-plugin-dir={plugins}"],
                     module, tmp_path)
    assert init.returncode == 0, init.stdout + init.stderr
    done = terraform(["validate"], module, tmp_path)
    assert "Success! The configuration is valid." in done.stdout, done.stdout + done.stderr
