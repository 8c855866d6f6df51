"""GKE and EKS Terraform: `terraform fmt -check` clean; the EKS module passes `terraform
validate` after an offline `terraform init -plugin-dir` against the AWS provider mirrored on
this machine."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cluster.support import CLUSTER, run_cluster, write_project

TERRAFORM = shutil.which("terraform")
# Where the machines keep a filesystem mirror of registry.terraform.io/hashicorp/aws.
PLUGIN_DIRS = [Path(p) for p in (os.environ.get("ENVBUILD_TF_PLUGIN_DIR", ""), "/opt/tf-plugins")
               if p]
needs_terraform = pytest.mark.skipif(TERRAFORM is None, reason="terraform is not installed")


def terraform(args: list[str], cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    assert TERRAFORM is not None
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "TF_IN_AUTOMATION": "1",
           "TF_CLI_CONFIG_FILE": str(home / "terraformrc"), "CHECKPOINT_DISABLE": "1",
           "TF_DATA_DIR": str(home / "data")}
    (home / "terraformrc").write_text("", encoding="utf-8")  # no network mirrors, no cache
    return subprocess.run([TERRAFORM, *args, "-no-color"], cwd=cwd, env=env, text=True,
                          capture_output=True, check=False, timeout=300)


def aws_plugin_dir() -> Path | None:
    for folder in PLUGIN_DIRS:
        if any(folder.glob("registry.terraform.io/hashicorp/aws/*/*/terraform-provider-aws*")):
            return folder
    return None


@pytest.fixture
def emitted(tmp_path: Path) -> Path:
    cluster = CLUSTER.replace("[cluster.pools.h100]", '[cluster.gke]\nproject = "demo-project"\n'
                              'location = "us-central1"\n\n[cluster.pools.h100]')
    # A CPU pool beside the GPU pool: no accelerator, the standard AMI, sized disks.
    cluster += '\n[cluster.pools.prep]\ntarget = "cpu"\ncpu = 4\nmemory = "16Gi"\n'
    project = write_project(tmp_path, cluster=cluster)
    result = run_cluster(project, "--provider", "gke", "--provider", "eks")
    assert result.code == 0, result.err
    return project / "out"


@needs_terraform
def test_fmt_check_is_clean(emitted: Path, tmp_path: Path) -> None:
    done = terraform(["fmt", "-check", "-diff", "-recursive", str(emitted)], emitted, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


@needs_terraform
def test_eks_module_validates_offline(emitted: Path, tmp_path: Path) -> None:
    plugins = aws_plugin_dir()
    if plugins is None:
        pytest.skip(f"no terraform-provider-aws mirrored under {', '.join(map(str, PLUGIN_DIRS))}")
    module = emitted / "eks"
    init = terraform(["init", "-backend=false", "-input=false", f"-plugin-dir={plugins}"],
                     module, tmp_path)
    assert init.returncode == 0, init.stdout + init.stderr
    done = terraform(["validate"], module, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success! The configuration is valid." in done.stdout


def test_gke_pool_pins_node_version_and_driver(emitted: Path) -> None:
    text = (emitted / "gke" / "h100.tf").read_text()
    assert 'resource "google_container_node_pool" "h100" {' in text
    assert 'project            = "demo-project"' in text
    assert "version            = var.node_version" in text
    assert "auto_upgrade = false" in text
    assert 'type  = "nvidia-h100-80gb"\n      count = 8' in text
    assert 'gpu_driver_version = "LATEST"' in text
    assert 'machine_type = "a3-highgpu-8g"' in text
    assert '"envbuild.dev/pool" = "h100"' in text
    variables = (emitted / "gke" / "variables.tf").read_text()
    assert 'variable "cluster" {' in variables and 'variable "project"' not in variables


def test_eks_node_group_uses_the_nvidia_ami(emitted: Path) -> None:
    text = (emitted / "eks" / "h100.tf").read_text()
    assert 'ami_type        = "AL2023_x86_64_NVIDIA"' in text
    assert 'instance_types  = ["p5.48xlarge"]' in text
    assert "release_version = var.release_version" in text
    assert 'key    = "nvidia.com/gpu"' in text and 'effect = "NO_SCHEDULE"' in text
