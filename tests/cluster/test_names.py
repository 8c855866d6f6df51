"""Names and label values: refused at load when they cannot be mapped, valid when emitted."""

from __future__ import annotations

from pathlib import Path

import pytest

from envbuild.cluster import k8snames
from tests.cluster.names import documents, invalid_names
from tests.cluster.support import CLUSTER, TARGETS, run_cluster, write_project

PROBLEMS = "error: 1 problem found\n"


def hint(project: Path) -> str:
    return f"hint: fix the problems above in {project / 'envbuild.toml'}\n"


@pytest.mark.parametrize(("cluster", "line"), [
    (CLUSTER.replace("[cluster.pools.h100]", "[cluster.pools.8gpu]"),
     "envbuild.toml:17: cluster.pools.8gpu: invalid pool name; use at most 40 lower-case "
     "letters, digits and '-', starting with a letter and ending with a letter or digit (it "
     'becomes part of Kubernetes, GKE and Terraform names), e.g. "p-8gpu"'),
    (CLUSTER.replace("[cluster.pools.h100]", f"[cluster.pools.{'h' * 41}]"),
     f"envbuild.toml:17: cluster.pools.{'h' * 41}: invalid pool name (41 characters); use at "
     "most 40 lower-case letters, digits and '-', starting with a letter and ending with a "
     "letter or digit (it becomes part of Kubernetes, GKE and Terraform names), e.g. "
     f'"{"h" * 40}"'),
    (CLUSTER.replace('namespace = "training"', 'namespace = "training"\nname = "1st"'),
     "envbuild.toml:16: cluster.name: invalid cluster name; use at most 40 lower-case letters, "
     "digits and '-', starting with a letter and ending with a letter or digit (it becomes "
     'part of Kubernetes, GKE and Terraform names), e.g. "p-1st"'),
    (CLUSTER.replace('namespace = "training"',
                     'namespace = "training"\nimage-pull-secrets = ["Regcred_1"]'),
     'envbuild.toml:16: cluster.image-pull-secrets[0]: "Regcred_1" is not a Kubernetes object '
     "name; use at most 253 lower-case letters, digits, '-' and '.', each dot-separated part "
     'starting and ending with a letter or digit, e.g. "registry-credentials"'),
], ids=["pool-starts-with-digit", "pool-too-long", "cluster-name-starts-with-digit",
        "pull-secret-not-a-name"])
def test_names_that_cannot_be_mapped_are_refused(tmp_path: Path, cluster: str,
                                                 line: str) -> None:
    project = write_project(tmp_path, cluster=cluster)
    result = run_cluster(project)
    assert result.code == 2
    assert result.err == PROBLEMS + line + "\n" + hint(project)
    assert not (project / "out").exists()


def test_a_target_name_that_is_no_label_value_is_refused_by_cluster(tmp_path: Path) -> None:
    # `envbuild cluster` reads only [cluster] and [run]; the target rule still applies.
    project = write_project(tmp_path, targets=TARGETS + '\n[targets.x_]\nplatform = "linux/amd64"\n')
    result = run_cluster(project)
    assert result.code == 2
    assert result.err == (
        PROBLEMS + "envbuild.toml:13: targets.x_: invalid target name; use at most 40 "
        "lower-case letters, digits and '-', starting and ending with a letter or digit (it "
        "becomes a Kubernetes label value and a folder name), e.g. [targets.x]\n" + hint(project))


def test_long_names_are_shortened_by_the_rule_and_stay_valid(tmp_path: Path) -> None:
    cluster, pool = "c" * 40, "p" * 40
    text = CLUSTER.replace('namespace = "training"', f'namespace = "training"\nname = "{cluster}"')
    project = write_project(tmp_path, cluster=text.replace("pools.h100]", f"pools.{pool}]"))
    result = run_cluster(project)
    assert result.code == 0, result.err
    out = project / "out"
    assert invalid_names(out) == []
    job = next(d for d in documents(out) if d["kind"] == "Job")
    name = job["metadata"]["name"]
    assert name == k8snames.object_name(cluster, pool)
    assert len(name) == 52 and name.startswith(cluster + "-pp-")
    gke = (out / "gke" / f"{pool}.tf").read_text()
    short = k8snames.object_name(cluster, pool, limit=40)
    assert f'name               = "{short}"' in gke and len(short) == 40
    assert short[-8:] == name[-8:]  # one hash of the whole name, whichever the limit


def test_default_cluster_name_from_any_project_name(tmp_path: Path) -> None:
    project = write_project(tmp_path)
    toml = project / "envbuild.toml"
    toml.write_text(toml.read_text().replace('name = "demo"', f'name = "3D_{"Model" * 12}"'))
    result = run_cluster(project, "--provider", "kubernetes", "--provider", "gke")
    assert result.code == 0, result.err
    assert invalid_names(project / "out") == []
    job = next(d for d in documents(project / "out") if d["kind"] == "Job")
    assert job["metadata"]["name"].startswith("envbuild-3d-modelmodel")


@pytest.mark.parametrize(("cluster", "pool"), [("demo", "h100"), ("a" * 40, "b" * 40),
                                                ("a" * 30, "b" * 21), ("a" * 30, "b" * 22)])
def test_object_name_rule(cluster: str, pool: str) -> None:
    name = k8snames.object_name(cluster, pool)
    full = f"{cluster}-{pool}"
    if len(full) <= 52:
        assert name == full
    else:
        assert len(name) == 52 and name[:43] == full[:43] and name[43] == "-"
    assert name == k8snames.object_name(cluster, pool)  # deterministic
    assert k8snames.is_dns_label(name)


def test_names_that_share_a_long_prefix_stay_apart() -> None:
    assert k8snames.object_name("a" * 40, "b" * 39 + "1") != k8snames.object_name("a" * 40,
                                                                                   "b" * 39 + "2")


def test_two_pools_on_one_target_say_no_image_once(tmp_path: Path) -> None:
    second = '\n[cluster.pools.h100b]\ntarget = "h100"\ngpu = "H100"\ngpus-per-node = 8\n' \
             "nodes = { min = 0, max = 4 }\n"
    project = write_project(tmp_path, cluster=CLUSTER + second)
    result = run_cluster(project, image=None)
    assert result.code == 2
    assert result.err == (
        'error: target "h100": no image digest; pass --image REGISTRY/REPO@sha256:<digest> or '
        "run `envbuild image --push --target h100` (it records the digest in "
        "envbuild.lock.d/images.json)\nhint: nothing was written; fix the problems above\n")


def test_the_name_checker_catches_what_it_should(tmp_path: Path) -> None:
    (tmp_path / "kubernetes").mkdir()
    (tmp_path / "kubernetes" / "x.yaml").write_text(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: 1-" + "j" * 60 + "\n"
        "  labels: {envbuild.dev/target: x_}\nspec:\n  selector:\n    matchLabels: {a: '"
        + "v" * 64 + "'}\n")
    assert invalid_names(tmp_path) == [
        f"Job name '1-{'j' * 60}' is not a DNS-1035 label",
        f"Job name '1-{'j' * 60}' leaves no room for the index",
        "Job label envbuild.dev/target='x_'",
        f"Job label a='{'v' * 64}'",
    ]
