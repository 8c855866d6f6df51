"""NodePool and EC2NodeClass against Karpenter's v1 CRD schemas (../shared/reference/crds)."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.support import CLUSTER, record_image, run_cluster, write_project

yaml = pytest.importorskip("yaml", reason="PyYAML reads the CRDs and the emitted YAML")
jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed")
# Beside the checkout (../shared), or where ENVBUILD_TEST_CRDS says (a git worktree).
CRDS = Path(os.environ.get("ENVBUILD_TEST_CRDS")
            or Path(__file__).resolve().parents[3] / "shared" / "reference" / "crds")


def strict(schema: Any) -> Any:
    """The schema with unknown fields refused, as the API server's strict field validation does."""
    schema = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if ("properties" in node and "additionalProperties" not in node
                    and not node.get("x-kubernetes-preserve-unknown-fields")):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


@pytest.fixture(scope="module")
def schemas() -> dict[str, Any]:
    if not CRDS.is_dir():
        pytest.skip(f"the Karpenter CRDs are not at {CRDS} (present in CI)")
    out = {}
    for path in sorted(CRDS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
        out[crd["spec"]["names"]["kind"]] = strict(version["schema"]["openAPIV3Schema"])
    return out


def emitted(project: Path) -> dict[str, dict[str, Any]]:
    result = run_cluster(project, "--provider", "karpenter")
    assert result.code == 0, result.err
    return {d["kind"]: d for d in yaml.safe_load_all(
        (project / "out" / "karpenter" / "h100.yaml").read_text())}


def test_objects_pass_the_v1_crd_schemas(project: Path, schemas: dict[str, Any]) -> None:
    documents = emitted(project)
    assert sorted(documents) == ["EC2NodeClass", "NodePool"]
    for kind, document in documents.items():
        assert document["apiVersion"] in ("karpenter.sh/v1", "karpenter.k8s.aws/v1")
        jsonschema.validate(document, schemas[kind])


def test_cpu_pool_objects_pass_the_v1_crd_schemas(tmp_path: Path,
                                                 schemas: dict[str, Any]) -> None:
    project = write_project(tmp_path, cluster=CLUSTER + '[cluster.pools.prep]\ntarget = "cpu"\n'
                                                        'cpu = 4\nmemory = "16Gi"\n')
    result = run_cluster(project, "--provider", "karpenter")
    assert result.code == 0, result.err
    for name in ("h100", "prep"):
        for document in yaml.safe_load_all((project / "out" / "karpenter" / f"{name}.yaml")
                                           .read_text()):
            jsonschema.validate(document, schemas[document["kind"]])


def test_schema_check_refuses_a_misspelt_field(project: Path, schemas: dict[str, Any]) -> None:
    pool = emitted(project)["NodePool"]
    pool["spec"]["template"]["spec"]["requirement"] = []
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(pool, schemas["NodePool"])


def test_node_pool_selects_the_gpu_and_carries_the_job_labels(project: Path) -> None:
    pool = emitted(project)["NodePool"]
    template = pool["spec"]["template"]
    assert template["metadata"]["labels"] == {"envbuild.dev/pool": "h100"}
    requirements = {r["key"]: r["values"] for r in template["spec"]["requirements"]}
    assert requirements["karpenter.k8s.aws/instance-gpu-name"] == ["h100"]
    assert requirements["karpenter.k8s.aws/instance-gpu-count"] == ["8"]
    assert requirements["karpenter.sh/capacity-type"] == ["on-demand"]
    assert template["spec"]["taints"] == [{"key": "nvidia.com/gpu", "value": "true",
                                           "effect": "NoSchedule"}]
    assert template["spec"]["nodeClassRef"] == {"group": "karpenter.k8s.aws",
                                                "kind": "EC2NodeClass", "name": "demo-h100"}
    assert pool["spec"]["limits"] == {"nvidia.com/gpu": 32}


def test_given_settings_replace_the_placeholders(tmp_path: Path) -> None:
    project = write_project(tmp_path, cluster=CLUSTER.replace(
        "[cluster.pools.h100]", '[cluster.karpenter]\nrole = "KarpenterNodeRole-demo"\n'
        'discovery = "demo"\nami-alias = "al2023@v20250505"\n\n[cluster.pools.h100]'))
    record_image(project)
    result = run_cluster(project, "--provider", "karpenter", "--strict", image=None)
    assert result.code == 0, result.err
    node_class = {d["kind"]: d for d in yaml.safe_load_all(
        (project / "out" / "karpenter" / "h100.yaml").read_text())}["EC2NodeClass"]
    assert node_class["spec"]["role"] == "KarpenterNodeRole-demo"
    assert node_class["spec"]["amiSelectorTerms"] == [{"alias": "al2023@v20250505"}]
    assert node_class["spec"]["subnetSelectorTerms"] == [
        {"tags": {"karpenter.sh/discovery": "demo"}}]
