"""CPU pools, dataset volumes, pod resources, node disks, EFA and Kueue in the emitted specs,
through the real CLI; every Kubernetes document against the upstream schemas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from envbuild.cluster.images import read_record, write_record
from envbuild.cluster.instances import allocatable, reserved_cpu_milli, reserved_memory_mib, shape
from envbuild.cluster.sizing import ASSUMED_UNPACKED_GIB, DISK_MARGIN_GIB
from tests.cluster.support import CLUSTER, RUN, TARGETS, record_image, run_cluster, write_project

yaml = pytest.importorskip("yaml", reason="PyYAML reads the emitted YAML back")

CPU_POOL = """
[cluster.pools.prep]
target = "cpu"
cpu = 6
memory = "24Gi"
nodes = { min = 0, max = 2 }
"""
DATASETS = """
[datasets.mini]
source = "data/mini"
mount = "/data/mini"

[datasets.shards]
source = "data/shards"
mount = "/data/shards"
"""


def documents(project: Path, provider: str, pool: str) -> dict[str, dict[str, Any]]:
    suffix = "yaml"
    path = project / "out" / provider / f"{pool}.{suffix}"
    return {d["kind"]: d for d in yaml.safe_load_all(path.read_text())}


def validate_all(project: Path) -> None:
    kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate is not installed")
    for path in sorted((project / "out" / "kubernetes").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            kv.validate(document, "1.32.0", strict=True)


def pod(job: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = job["spec"]["template"]["spec"]
    return spec


def terms_of(job: dict[str, Any]) -> list[dict[str, Any]]:
    terms: list[dict[str, Any]] = pod(job)["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    return terms


def test_reserve_follows_the_documented_formulas() -> None:
    # 6% + 1% + 2 x 0.5% + 4 x 0.25% of 8 cores; GKE's memory tiers of 32 GiB plus eviction.
    assert reserved_cpu_milli(8) == 60 + 10 + 10 + 10
    assert reserved_memory_mib(32) == 100 + (4 * 25 + 4 * 20 + 8 * 10 + 16 * 6) * 1024 // 100
    row = shape("m7i.2xlarge")
    assert row is not None and allocatable(row) == (
        8000 - 90 - 500, 32 * 1024 - reserved_memory_mib(32) - 1024)


def test_cpu_pool_requests_no_gpu_and_lands_on_cpu_machines(tmp_path: Path) -> None:
    project = write_project(tmp_path, cluster=CLUSTER + CPU_POOL)
    result = run_cluster(project, "--provider", "kubernetes", "--provider", "karpenter",
                         "--provider", "eks", "--provider", "gke", "--provider", "slurm")
    assert result.code == 0, result.err
    validate_all(project)
    job = documents(project, "kubernetes", "prep")["Job"]
    (container,) = pod(job)["containers"]
    assert container["resources"] == {
        "limits": {"cpu": "6", "memory": "24576Mi"},
        "requests": {"cpu": "6", "memory": "24576Mi",
                     "ephemeral-storage": f"{ASSUMED_UNPACKED_GIB}Gi"}}
    assert "tolerations" not in pod(job)
    # Its target locks no torch: `auto` runs the command as written, no launcher, no GPU count.
    assert container["command"][-4:] == ["--", "python", "-m", "train"]
    assert not any("nproc" in word for word in container["command"])
    # The pool's own nodes (every node provider labels them): derived shapes are not imposed.
    assert terms_of(job) == [{"matchExpressions": [
        {"key": "envbuild.dev/pool", "operator": "In", "values": ["prep"]},
        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}]}]
    node_pool = documents(project, "karpenter", "prep")["NodePool"]
    requirements = {r["key"]: r["values"] for r in
                    node_pool["spec"]["template"]["spec"]["requirements"]}
    assert requirements["karpenter.k8s.aws/instance-category"] == ["c", "m", "r"]
    assert "karpenter.k8s.aws/instance-gpu-name" not in requirements
    assert "taints" not in node_pool["spec"]["template"]["spec"]
    # 6 cores and 24 GiB fit 8 cores and 32 GiB less the reserve: m7i.2xlarge, n2-standard-8.
    # Karpenter may take up to twice that (16 vCPUs); nodes.max = 2 such nodes fit the limit.
    assert requirements["karpenter.k8s.aws/instance-cpu"] == ["17"]
    assert node_pool["spec"]["limits"] == {"cpu": 2 * 16}
    eks = (project / "out" / "eks" / "prep.tf").read_text()
    assert 'ami_type        = "AL2023_x86_64_STANDARD"' in eks
    assert 'instance_types  = ["m7i.2xlarge"]' in eks and "nvidia.com/gpu" not in eks
    gke = (project / "out" / "gke" / "prep.tf").read_text()
    assert 'machine_type = "n2-standard-8"' in gke and "guest_accelerator" not in gke
    sbatch = (project / "out" / "slurm" / "prep.sbatch").read_text()
    assert "--gres" not in sbatch and "torchrun" not in sbatch
    assert "#SBATCH --cpus-per-task=6\n" in sbatch and "#SBATCH --mem=24576M\n" in sbatch


def test_slurm_asks_a_gpu_pool_for_the_cpu_and_memory_the_job_requests(tmp_path: Path) -> None:
    project = write_project(tmp_path)
    result = run_cluster(project, "--provider", "kubernetes", "--provider", "eks",
                         "--provider", "slurm")
    assert result.code == 0, result.err
    # p5.48xlarge: 192 vCPUs less 550m kubelet reserve and 500m for DaemonSets; 2048 GiB less
    # GKE's tiers (9643 MiB), 2% above 128 GiB (39321 MiB) and 1024 MiB for DaemonSets.
    limits = pod(documents(project, "kubernetes", "h100")["Job"])["containers"][0][
        "resources"]["limits"]
    assert (limits["cpu"], limits["memory"]) == ("190950m", "2047164Mi")
    sbatch = (project / "out" / "slurm" / "h100.sbatch").read_text()
    assert ("#SBATCH --ntasks-per-node=1\n#SBATCH --gres=gpu:h100:8\n"
            "#SBATCH --cpus-per-task=191\n#SBATCH --mem=2047164M\n") in sbatch


def test_a_cpu_pool_with_no_node_provider_goes_to_any_node_of_its_arch(tmp_path: Path) -> None:
    project = write_project(tmp_path, cluster=CLUSTER + CPU_POOL)
    result = run_cluster(project, "--provider", "kubernetes")
    assert result.code == 0, result.err
    job = documents(project, "kubernetes", "prep")["Job"]
    # No envbuild node pool labels nodes here: any node of the architecture that fits.
    assert terms_of(job) == [{"matchExpressions": [
        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}]}]


def test_a_cpu_pool_naming_instance_types_lands_on_them(tmp_path: Path) -> None:
    project = write_project(tmp_path, cluster=CLUSTER + """
[cluster.pools.prep]
target = "cpu"
instance-types = ["c7i.8xlarge"]
nodes = 2
""")
    result = run_cluster(project, "--provider", "kubernetes", "--strict")
    assert result.code == 2  # the GPU pool h100 names no machine: its CPU is unset
    assert result.err.splitlines()[:3] == [
        "error: --strict: 4 account-specific settings are not set:",
        "  cluster.pools.h100.cpu (kubernetes)", "  cluster.pools.h100.memory (kubernetes)"]
    result = run_cluster(project, "--provider", "kubernetes")
    assert result.code == 0, result.err
    job = documents(project, "kubernetes", "prep")["Job"]
    assert terms_of(job) == [
        {"matchExpressions": [{"key": "node.kubernetes.io/instance-type", "operator": "In",
                               "values": ["c7i.8xlarge"]},
                              {"key": "kubernetes.io/arch", "operator": "In",
                               "values": ["amd64"]}]},
        {"matchExpressions": [{"key": "envbuild.dev/pool", "operator": "In",
                               "values": ["prep"]}]}]
    c7i = shape("c7i.8xlarge")
    assert c7i is not None
    cpu, memory = allocatable(c7i)
    assert pod(job)["containers"][0]["resources"]["limits"] == {
        "cpu": f"{cpu}m", "memory": f"{memory}Mi"}
    assert "  kubernetes: cluster.pools.h100.cpu is not set; emitted as no cpu request (no " \
           "machine shape known; set cpu or the pool's instance-types/machine-type)" \
           in result.err.splitlines()


def test_a_cuda_target_on_a_cpu_pool_is_refused(tmp_path: Path) -> None:
    project = write_project(tmp_path, cluster=CLUSTER + CPU_POOL.replace('"cpu"', '"h100"'))
    result = run_cluster(project, "--provider", "kubernetes")
    assert result.code == 2
    assert result.err.splitlines()[0] == (
        'error: envbuild.toml:24: cluster.pools.prep: target "h100" is a CUDA 12.4 build; a pool '
        'without gpu is a CPU pool. Fix: add gpu = "H100" and gpus-per-node = 8, or point the '
        "pool at a CPU target")
    assert not (project / "out").exists()


def test_datasets_are_mounted_read_only_from_their_volumes(tmp_path: Path) -> None:
    cluster = CLUSTER + CPU_POOL + """
[cluster.volumes.mini]
csi-driver = "s3.csi.aws.com"
csi-attributes = { bucketName = "research-data" }

[cluster.volumes.shards]
host-path = "/mnt/shards"
"""
    project = write_project(tmp_path, cluster=cluster, targets=TARGETS + DATASETS)
    result = run_cluster(project, "--provider", "kubernetes", "--provider", "slurm")
    assert result.code == 0, result.err
    validate_all(project)
    for name in ("h100", "prep"):
        job = documents(project, "kubernetes", name)["Job"]
        (container,) = pod(job)["containers"]
        assert container["volumeMounts"][2:] == [
            {"name": "dataset-0", "mountPath": "/data/mini", "readOnly": True},
            {"name": "dataset-1", "mountPath": "/data/shards", "readOnly": True}]
        assert pod(job)["volumes"][2:] == [
            {"name": "dataset-0", "csi": {"driver": "s3.csi.aws.com", "readOnly": True,
                                          "volumeAttributes": {"bucketName": "research-data"}}},
            {"name": "dataset-1", "hostPath": {"path": "/mnt/shards", "type": "Directory"}}]
    sbatch = (project / "out" / "slurm" / "h100.sbatch").read_text()
    assert ",/mnt/shards:/data/shards:ro" in sbatch  # the CSI volume has no path on Slurm
    assert "  slurm: cluster.volumes.mini.slurm-path is not set; emitted as not bound (no path " \
           "on the Slurm nodes)" in result.err.splitlines()


def test_an_unmapped_dataset_gets_a_placeholder_claim_and_strict_refuses_it(
        tmp_path: Path) -> None:
    project = write_project(tmp_path, targets=TARGETS + DATASETS, cluster=CLUSTER + """cpu = 96
memory = "900Gi"

[cluster.volumes.shards]
claim = "shards"
""")
    record_image(project)
    result = run_cluster(project, "--provider", "kubernetes", image=None)
    assert result.code == 0, result.err
    assert result.err.splitlines()[:2] == [
        "warning: 1 account-specific setting is not set; emitted as Terraform variables or "
        "marked placeholders (--strict makes this an error):",
        "  kubernetes: cluster.volumes.mini is not set; emitted as PersistentVolumeClaim "
        "demo-mini"]
    volumes = pod(documents(project, "kubernetes", "h100")["Job"])["volumes"][2:]
    assert volumes == [
        {"name": "dataset-0", "persistentVolumeClaim": {"claimName": "demo-mini",
                                                        "readOnly": True}},
        {"name": "dataset-1", "persistentVolumeClaim": {"claimName": "shards",
                                                        "readOnly": True}}]
    strict = run_cluster(project, "--provider", "kubernetes", "--strict", image=None)
    assert strict.code == 2
    assert strict.err == (
        "error: --strict: 1 account-specific setting is not set:\n"
        "  cluster.volumes.mini (kubernetes)\n"
        'hint: set them in envbuild.toml (for example cluster.volumes.mini = "..."), or emit '
        "without --strict\n")


def test_disks_and_ephemeral_storage_follow_the_recorded_unpacked_size(tmp_path: Path) -> None:
    project = write_project(tmp_path, cluster=CLUSTER.replace(
        "[cluster.pools.h100]", '[cluster.gke]\nproject = "p"\n\n[cluster.pools.h100]'))
    unpacked = 5 * (1 << 30) + 1  # a byte over 5 GiB: 6 GiB
    record_image(project, unpacked_bytes=unpacked)
    result = run_cluster(project, image=None)
    assert result.code == 0, result.err
    assert "unpacked size" not in result.err
    disk = 2 * 6 + DISK_MARGIN_GIB
    node_class = documents(project, "karpenter", "h100")["EC2NodeClass"]
    assert node_class["spec"]["blockDeviceMappings"] == [
        {"deviceName": "/dev/xvda", "rootVolume": True,
         "ebs": {"volumeSize": f"{disk}Gi", "volumeType": "gp3", "encrypted": True,
                 "deleteOnTermination": True}}]
    assert f"disk_size       = {disk}\n" in (project / "out" / "eks" / "h100.tf").read_text()
    assert f"disk_size_gb = {disk}\n" in (project / "out" / "gke" / "h100.tf").read_text()
    requests = pod(documents(project, "kubernetes", "h100")["Job"])["containers"][0][
        "resources"]["requests"]
    assert requests["ephemeral-storage"] == "6Gi"


def test_efa_instances_request_efa_and_set_libfabric(tmp_path: Path) -> None:
    project = write_project(tmp_path, cluster=CLUSTER.replace(
        'namespace = "training"', 'namespace = "training"\nqueue = "team-a"'))
    result = run_cluster(project, "--provider", "kubernetes", "--provider", "karpenter")
    assert result.code == 0, result.err
    validate_all(project)
    job = documents(project, "kubernetes", "h100")["Job"]
    (container,) = pod(job)["containers"]
    p5 = shape("p5.48xlarge")
    assert p5 is not None
    cpu, memory = allocatable(p5)
    assert container["resources"]["limits"] == {
        "cpu": f"{cpu}m", "memory": f"{memory}Mi", "nvidia.com/gpu": 8,
        "vpc.amazonaws.com/efa": p5.efa}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert (env["FI_PROVIDER"], env["FI_EFA_USE_DEVICE_RDMA"], env["FI_EFA_FORK_SAFE"]) == (
        "efa", "1", "1")
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"


def test_no_efa_where_the_pool_may_land_on_gke(tmp_path: Path) -> None:
    project = write_project(tmp_path)
    result = run_cluster(project, "--provider", "kubernetes", "--provider", "karpenter",
                         "--provider", "gke")
    assert result.code == 0, result.err
    job = documents(project, "kubernetes", "h100")["Job"]
    (container,) = pod(job)["containers"]
    assert "vpc.amazonaws.com/efa" not in container["resources"]["limits"]
    assert "FI_PROVIDER" not in {e["name"] for e in container["env"]}
    assert "kueue.x-k8s.io/queue-name" not in job["metadata"]["labels"]


def test_slurm_runs_the_recorded_image_and_marks_unset_site_settings(tmp_path: Path) -> None:
    project = write_project(tmp_path)
    record_image(project)
    result = run_cluster(project, "--provider", "slurm", "--json", image=None)
    assert result.code == 0, result.err
    sbatch = (project / "out" / "slurm" / "h100.sbatch").read_text()
    assert "--container-image='registry.example.com#team/app@sha256:" in sbatch
    for key in ("partition", "account", "time"):
        assert f"#  #SBATCH --{key}=  (set cluster.slurm.{key})\n" in sbatch
    placeholders = json.loads(result.out)["placeholders"]
    assert [p["key"] for p in placeholders] == [
        "cluster.slurm.partition", "cluster.slurm.account", "cluster.slurm.time"]


def test_slurm_without_an_image_stays_in_venv_mode(tmp_path: Path) -> None:
    project = write_project(tmp_path, cluster=CLUSTER.replace(
        "[cluster.pools.h100]", '[cluster.slurm]\npartition = "gpu"\naccount = "ml"\n'
        'time = "1:00:00"\n\n[cluster.pools.h100]'), run=RUN)
    result = run_cluster(project, "--provider", "slurm", "--strict", image=None)
    assert result.code == 0, result.err
    sbatch = (project / "out" / "slurm" / "h100.sbatch").read_text()
    assert "--container-image" not in sbatch and "ENVBUILD_VENV=" in sbatch
    assert "#SBATCH --partition=gpu\n#SBATCH --account=ml\n#SBATCH --time=1:00:00\n" in sbatch


def test_a_stale_record_is_noted_where_slurm_falls_back_to_a_venv(tmp_path: Path) -> None:
    project = write_project(tmp_path)
    record_image(project)
    image, _ = read_record(project / "envbuild.lock")["h100"]
    old = "sha256:" + "0" * 64
    write_record(project / "envbuild.lock", "h100", ref=image.ref, digest=image.digest,
                 image_hash="sha256:" + "3" * 64, target_hash=old)
    result = run_cluster(project, "--provider", "slurm", image=None)
    assert result.code == 0, result.err
    locked = json.loads((project / "envbuild.lock.d" / "images.json").read_text())
    assert locked["targets"]["h100"]["target_hash"] == old
    assert "ENVBUILD_VENV=" in (project / "out" / "slurm" / "h100.sbatch").read_text()
    notes = [line for line in result.err.splitlines() if line.startswith("note: slurm:")]
    assert len(notes) == 1 and notes[0].startswith(
        'note: slurm: target "h100": the image in envbuild.lock.d/images.json was built from '
        f"target hash {old}, the lock has ")
    assert notes[0].endswith("; until then its sbatch script uses a venv")
