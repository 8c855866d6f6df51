"""Property: any target, pool and cluster name the manifest rules admit gives only valid
Kubernetes, GKE and EKS names and label values, in every provider's files."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.cluster.names import documents, invalid_names
from tests.cluster.support import CLUSTER, manifest_text, run_cluster
from tests.runtime.envs import target, write_lock

kubernetes_validate = pytest.importorskip("kubernetes_validate",
                                          reason="kubernetes-validate is not installed")

# The manifest rules (envbuild/cluster/k8snames.py), written out again as the test's spec.
target_names = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?\Z")
pool_names = st.from_regex(r"\A[a-z]([-a-z0-9]{0,38}[a-z0-9])?\Z")
# Any project name the manifest admits (letters, digits, '-', '_', '.'), or a cluster.name.
project_names = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,80}\Z")


@settings(max_examples=25, deadline=None)
@given(target_name=target_names, pool=pool_names, project=project_names,
       cluster=st.one_of(st.none(), pool_names))
def test_every_emitted_name_and_label_is_valid(target_name: str, pool: str, project: str,
                                               cluster: str | None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        text = CLUSTER.replace('target = "h100"', f'target = "{target_name}"')
        text = text.replace("[cluster.pools.h100]", f"[cluster.pools.{pool}]")
        if cluster is not None:
            text = text.replace('namespace = "training"',
                                f'namespace = "training"\nname = "{cluster}"')
        targets = (f'\n[targets.{target_name}]\nplatform = "linux/amd64"\ncuda = "12.4"\n'
                   'gpus = ["H100"]\n')
        manifest = manifest_text(cluster=text, targets=targets)
        (root / "envbuild.toml").write_text(
            manifest.replace('name = "demo"', f'name = "{project}"', 1), encoding="utf-8")
        write_lock(root / "envbuild.lock",
                   target(target_name, {"alpha": "1.0"}, cuda="12.4", gpus=("H100",),
                          driver_floor="550.54.14"))
        result = run_cluster(root)
        assert result.code == 0, result.err
        out = root / "out"
        assert invalid_names(out) == []
        for document in documents(out):
            if document["apiVersion"] in ("v1", "batch/v1"):
                kubernetes_validate.validate(document, "1.32.0", strict=True)
