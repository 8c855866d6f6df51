"""EKS: per pool, a Terraform `aws_eks_node_group` on the NVIDIA AMI type (a CPU pool: the
standard one), labelled and tainted as the Job selects, with the AMI release pinned and the
disk sized from the image (`envbuild/cluster/sizing.py`), never the 20 GiB default."""

from __future__ import annotations

from typing import Any

from envbuild.cluster.hcl import Block, Expr
from envbuild.cluster.interface import Emission, Emitter
from envbuild.cluster.plan import LABEL_PREFIX, ClusterPlan, PoolPlan
from envbuild.cluster.terraform import Variables, module_emission

FOLDER = "eks"
AMI_TYPES = {"amd64": "AL2023_x86_64_NVIDIA", "arm64": "AL2023_ARM_64_NVIDIA"}
CPU_AMI_TYPES = {"amd64": "AL2023_x86_64_STANDARD", "arm64": "AL2023_ARM_64_STANDARD"}


class EksEmitter(Emitter):
    name = "eks"

    def emit(self, plan: ClusterPlan) -> Emission:
        return module_emission(provider=self.name, folder=FOLDER, plan=plan, block=node_group,
                               name="aws", source="hashicorp/aws")


def node_group(plan: ClusterPlan, pool: PoolPlan, variables: Variables) -> Block:
    eks = plan.settings.eks
    settings = pool.settings
    what = (f"with {settings.gpus_per_node} x {pool.gpu.name}" if pool.gpu is not None
            else "for the CPU pool")
    instance_types = variables.value(
        pool.sizing.ec2_types or None, key=f"cluster.pools.{pool.name}.instance-types",
        variable=f"{pool.name}_instance_types", kind="list(string)",
        description=f"EC2 instance types {what}")
    body: list[Any] = [
        ("cluster_name", variables.value(eks.get("cluster-name"), key="cluster.eks.cluster-name",
                                         variable="cluster_name", description="EKS cluster name")),
        ("node_group_name", pool.object_name),
        ("node_role_arn", variables.value(
            eks.get("node-role-arn"), key="cluster.eks.node-role-arn", variable="node_role_arn",
            description="IAM role ARN of the nodes")),
        ("subnet_ids", variables.value(
            eks.strings("subnet-ids"), key="cluster.eks.subnet-ids", variable="subnet_ids",
            kind="list(string)", description="Subnets of the node group")),
        ("ami_type", (AMI_TYPES if pool.gpu is not None else CPU_AMI_TYPES)[pool.arch]),
        ("capacity_type", "SPOT" if settings.capacity == "spot" else "ON_DEMAND"),
        ("instance_types", instance_types),
        ("disk_size", pool.sizing.disk_gib),
        ("release_version", variables.value(
            eks.get("release-version"), key="cluster.eks.release-version",
            variable="release_version",
            description="EKS-optimized NVIDIA AMI release, pinned so the driver stays put")),
    ]
    if eks.get("kubernetes-version"):
        body.append(("version", eks.get("kubernetes-version")))
    body += [
        ("labels", {f"{LABEL_PREFIX}/pool": pool.label}),
        Block(type="scaling_config", body=(("desired_size", settings.nodes_min),
                                           ("max_size", settings.nodes_max),
                                           ("min_size", settings.nodes_min))),
        *([Block(type="taint", body=(("key", "nvidia.com/gpu"), ("value", "true"),
                                     ("effect", "NO_SCHEDULE")))] if pool.gpu is not None else []),
        Block(type="lifecycle", body=(
            ("ignore_changes", [Expr(text="scaling_config[0].desired_size")]),)),
    ]
    return Block(type="resource", labels=("aws_eks_node_group", pool.name), body=tuple(body))
