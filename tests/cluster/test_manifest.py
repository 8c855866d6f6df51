"""`[cluster]` and `[run]`: parsed settings, and each problem with file:line, key and fix."""

from __future__ import annotations

import tomllib

from envbuild.cluster.manifest import ClusterManifest, parse_cluster
from envbuild.manifest.locate import LineIndex
from tests.cluster.support import manifest_text


def parse(text: str) -> tuple[object, list[str]]:
    manifest, problems = parse_cluster(tomllib.loads(text), file="envbuild.toml",
                                       line_of=LineIndex(text).line_of)
    return manifest, [p.render() for p in problems]


def test_the_example_of_the_issue_parses() -> None:
    manifest, problems = parse(manifest_text())
    assert problems == []
    cluster = manifest.cluster  # type: ignore[attr-defined]
    assert cluster.providers == ("kubernetes", "karpenter", "gke", "eks", "slurm")
    assert cluster.namespace == "training"
    (pool,) = cluster.pools
    assert (pool.name, pool.target, pool.gpu, pool.gpus_per_node, pool.nodes_min,
            pool.nodes_max, pool.capacity) == ("h100", "h100", "H100", 8, 0, 4, "on-demand")
    run = manifest.run  # type: ignore[attr-defined]
    assert (run.command, run.nodes, run.determinism, run.launcher) == (
        ("python", "-m", "train"), 2, "strict", "auto")


def test_no_sections_no_settings() -> None:
    manifest, problems = parse('[project]\nname = "x"\n')
    assert problems == [] and manifest.cluster is None and manifest.run is None  # type: ignore[attr-defined]


def test_every_problem_is_reported_with_its_line() -> None:
    text = """[project]
name = "x"
[targets.h100]
platform = "linux/amd64"
[cluster]
providers = ["kubernetes", "nomad"]
namespace = "Training"
[cluster.gke]
gpu-driver = "R535"
[cluster.slurm]
mode = "docker"
time = "forever"
[cluster.pools.h100]
target = "h100"
gpu = "H100"
gpus-per-node = "8"
nodes = { min = 3, max = 2 }
[run]
command = []
determinism = "loose"
env = { SEED = 1 }
"""
    _, problems = parse(text)
    assert problems == [
        'envbuild.toml:6: cluster.providers[1]: unknown provider "nomad"; use one of: kubernetes, '
        "karpenter, gke, eks, slurm",
        'envbuild.toml:7: cluster.namespace: "Training" is not a valid namespace; use a DNS '
        'label, e.g. namespace = "training"',
        'envbuild.toml:9: cluster.gke.gpu-driver: "R535" is not a GKE driver version; GKE '
        'accepts gpu-driver = "DEFAULT" or "LATEST" only',
        'envbuild.toml:11: cluster.slurm.mode: unknown mode "docker"; use "venv" (an environment '
        'installed from the lock) or "container" (pyxis)',
        'envbuild.toml:12: cluster.slurm.time: "forever" is not a Slurm time; e.g. time = '
        '"24:00:00" or "2-00:00:00"',
        "envbuild.toml:16: cluster.pools.h100.gpus-per-node: must be an integer, not a string",
        "envbuild.toml:17: cluster.pools.h100.nodes: min (3) is above max (2); lower min or "
        "raise max",
        'envbuild.toml:19: run.command: is empty; name the program, e.g. command = ["python3", '
        '"-m", "train"]',
        'envbuild.toml:20: run.determinism: unknown value "loose"; use one of: off, strict',
        'envbuild.toml:21: run.env.SEED: must be a string, not an integer; quote it: SEED = "1"',
    ]


POOL_HEAD = '[project]\nname = "x"\n[targets.h100]\nplatform = "linux/amd64"\n' \
            '[cluster.pools.h100]\ntarget = "h100"\n'


def test_a_gpu_pool_missing_one_gpu_key_says_what_to_add() -> None:
    _, problems = parse(POOL_HEAD + "gpus-per-node = 8\n")
    assert problems == [
        'envbuild.toml:5: cluster.pools.h100: missing required key "gpu"; add gpu = "H100"']
    _, problems = parse(POOL_HEAD + 'gpu = "H100"\n')
    assert problems == [
        'envbuild.toml:5: cluster.pools.h100: missing required key "gpus-per-node"; add '
        "gpus-per-node = 8"]


def test_a_cpu_pool_without_a_shape_says_what_to_add() -> None:
    _, problems = parse(POOL_HEAD)
    assert problems == [
        "envbuild.toml:5: cluster.pools.h100: a CPU pool (no gpu) needs its nodes' shape: add "
        'instance-types = ["m7i.4xlarge"] / machine-type = "n2-standard-16", or cpu = 8 and '
        'memory = "32Gi" (or gpu = "H100" and gpus-per-node = 8 for a GPU pool)']


def test_cpu_pool_keys_and_volumes_are_read() -> None:
    manifest, problems = parse(
        '[project]\nname = "x"\n[datasets.mini]\nsource = "data/"\nmount = "/data/mini"\n'
        '[targets.cpu]\nplatform = "linux/amd64"\n'
        '[cluster]\nqueue = "team-a"\n[cluster.pools.prep]\ntarget = "cpu"\ncpu = "7500m"\n'
        'memory = "30Gi"\n[cluster.volumes.mini]\nclaim = "mini-data"\n')
    assert problems == [] and isinstance(manifest, ClusterManifest)
    assert manifest.cluster is not None and manifest.mounts == (("mini", "/data/mini"),)
    (pool,) = manifest.cluster.pools
    assert (pool.gpu, pool.gpus_per_node, pool.cpu_milli, pool.memory_mib) == (
        None, 0, 7500, 30 * 1024)
    (volume,) = manifest.cluster.volumes
    assert (volume.dataset, volume.kind, volume.source) == ("mini", "claim", "mini-data")
    assert manifest.cluster.queue == "team-a"


def test_bad_resources_and_volumes_name_their_keys() -> None:
    _, problems = parse(
        '[project]\nname = "x"\n[datasets.mini]\nsource = "data/"\nmount = "/data/mini"\n'
        '[targets.cpu]\nplatform = "linux/amd64"\n'
        '[cluster.pools.prep]\ntarget = "cpu"\ncpu = "lots"\nmemory = "30GB"\n'
        '[cluster.volumes.mini]\nclaim = "a"\nhost-path = "/mnt/a"\n'
        '[cluster.volumes.other]\nhost-path = "data"\n')
    assert problems == [
        "envbuild.toml:10: cluster.pools.prep.cpu: 'lots' is not a CPU amount; use cores or "
        'millicores, e.g. cpu = 8 or cpu = "7500m"',
        "envbuild.toml:11: cluster.pools.prep.memory: '30GB' is not a memory amount; use Mi, "
        'Gi or Ti, e.g. memory = "64Gi"',
        "envbuild.toml:12: cluster.volumes.mini: set exactly one of claim (a "
        "PersistentVolumeClaim), host-path (a folder on every node) or csi-driver, e.g. "
        'claim = "imagenet-val"',
        'envbuild.toml:15: cluster.volumes.other: no dataset "other" with a mount; volumes map '
        '[datasets.<name>] entries that set mount = "/data/..."; datasets with a mount: mini',
        'envbuild.toml:16: cluster.volumes.other.host-path: "data" must be an absolute path '
        'without "," or ":" (pyxis separates mounts by them)',
    ]
