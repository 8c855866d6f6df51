"""`[cluster]` and `[run]`: parsed settings, and each problem with file:line, key and fix."""

from __future__ import annotations

import tomllib

from envbuild.cluster.manifest import parse_cluster
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
        'envbuild.toml:19: run.command: is empty; name the program, e.g. command = ["python", '
        '"-m", "train"]',
        'envbuild.toml:20: run.determinism: unknown value "loose"; use one of: off, strict',
        'envbuild.toml:21: run.env.SEED: must be a string, not an integer; quote it: SEED = "1"',
    ]


def test_missing_pool_keys_say_what_to_add() -> None:
    text = '[project]\nname = "x"\n[targets.h100]\nplatform = "linux/amd64"\n' \
           '[cluster.pools.h100]\ntarget = "h100"\n'
    _, problems = parse(text)
    assert problems == [
        'envbuild.toml:5: cluster.pools.h100: missing required key "gpu"; add gpu = "H100"',
        'envbuild.toml:5: cluster.pools.h100: missing required key "gpus-per-node"; add '
        "gpus-per-node = 8",
    ]
