"""GKE: per pool, a Terraform `google_container_node_pool` with the pool's GPUs attached (a
CPU pool: none), its boot disk sized from the image (`envbuild/cluster/sizing.py`).

GKE installs the NVIDIA driver itself and only as DEFAULT or LATEST for the node version, so
the node version is pinned and auto-upgrade is off: the driver cannot move under a lock.
GKE taints GPU nodes `nvidia.com/gpu=present:NoSchedule` by itself; the Job tolerates it.
"""

from __future__ import annotations

from typing import Any

from envbuild.cluster import k8snames
from envbuild.cluster.hcl import Block
from envbuild.cluster.interface import ClusterError, Emission, Emitter
from envbuild.cluster.plan import LABEL_PREFIX, ClusterPlan, PoolPlan
from envbuild.cluster.terraform import Variables, module_emission

FOLDER = "gke"


class GkeEmitter(Emitter):
    name = "gke"

    def emit(self, plan: ClusterPlan) -> Emission:
        problems = [p for pool in plan.pools for p in _accelerator_problems(plan, pool)]
        if problems:
            raise ClusterError("\n".join(problems))
        return module_emission(provider=self.name, folder=FOLDER, plan=plan, block=node_pool,
                               name="google", source="hashicorp/google")


def _accelerator_problems(plan: ClusterPlan, pool: PoolPlan) -> list[str]:
    if pool.gpu is None:
        return []
    names = pool.gpu.gke_accelerator
    key = f"cluster.pools.{pool.name}"
    if not names:
        return [f"{plan.locate(key + '.gpu')}: GKE offers no {pool.gpu.name} (envbuild's "
                "hardware data has no GKE accelerator type for it); drop \"gke\" from "
                "cluster.providers or use another GPU"]
    chosen = pool.settings.gke_accelerator
    if chosen is not None and chosen not in names:
        return [f"{plan.locate(key + '.gke-accelerator')}: \"{chosen}\" is not a "
                f"{pool.gpu.name} accelerator on GKE; use one of: {', '.join(names)}"]
    return []


def node_pool(plan: ClusterPlan, pool: PoolPlan, variables: Variables) -> Block:
    gke = plan.settings.gke
    settings = pool.settings
    kind = pool.sizing.gke_accelerator
    machine = variables.value(
        pool.sizing.gke_machine, key=f"cluster.pools.{pool.name}.machine-type",
        variable=f"{pool.name}_machine_type",
        description=f"GCE machine type for {settings.gpus_per_node} x {kind}" if kind
        else "GCE machine type for the CPU pool")
    version = variables.value(
        gke.get("node-version"), key="cluster.gke.node-version", variable="node_version",
        description="GKE node version, pinned: auto-upgrade is off so the driver stays put")
    common: list[tuple[str, Any]] = [
        # GKE allows 40 characters, the Job's name 52: shortened by k8snames' rule.
        ("name", k8snames.object_name(plan.name, pool.name, limit=k8snames.GKE_NODE_POOL_MAX)),
        ("project", variables.value(gke.get("project"), key="cluster.gke.project",
                                    variable="project", description="Google Cloud project ID")),
        ("location", variables.value(gke.get("location"), key="cluster.gke.location",
                                     variable="location", description="Cluster region or zone")),
        ("cluster", variables.value(gke.get("cluster"), key="cluster.gke.cluster",
                                    variable="cluster", description="GKE cluster name")),
        ("version", version),
        ("initial_node_count", settings.nodes_min),
    ]
    driver = gke.get("gpu-driver") or "LATEST"
    gpus = [Block(type="guest_accelerator", body=(
        ("type", kind), ("count", settings.gpus_per_node),
        Block(type="gpu_driver_installation_config", body=(("gpu_driver_version", driver),)),
    ))] if kind is not None else []
    config = Block(type="node_config", body=(
        ("machine_type", machine),
        # Never the 100 GB default by chance: twice the unpacked image plus a margin.
        ("disk_size_gb", pool.sizing.disk_gib),
        ("spot", settings.capacity == "spot"),
        ("labels", {f"{LABEL_PREFIX}/pool": pool.label}),
        *gpus,
    ))
    return Block(type="resource", labels=("google_container_node_pool", pool.name), body=(
        *common,
        Block(type="autoscaling", body=(("min_node_count", settings.nodes_min),
                                        ("max_node_count", settings.nodes_max))),
        Block(type="management", body=(("auto_repair", True), ("auto_upgrade", False))),
        config,
    ))
