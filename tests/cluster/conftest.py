"""Shared fixtures of the cluster tests: a manifest with [cluster] and [run], a lock to match."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cluster.support import write_project

DEFAULT_CONF = Path(os.environ.get("ENVBUILD_TEST_STATE", "/var/lib/envbuild-test")) / "slurm" / "slurm.conf"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with envbuild.toml (every provider, pool h100, 2-node run) and envbuild.lock."""
    return write_project(tmp_path)


@pytest.fixture(scope="module")
def slurm_conf() -> Path:
    conf = Path(os.environ.get("SLURM_CONF") or DEFAULT_CONF)
    if shutil.which("sbatch") is None:
        pytest.skip("sbatch is not installed (apt-get install slurm-client; "
                    "scripts/services/slurm start)")
    if not conf.is_file():
        pytest.skip(f"no Slurm configuration at {conf}: run scripts/services/slurm start")
    ping = subprocess.run(["scontrol", "ping"], env={**os.environ, "SLURM_CONF": str(conf)},
                          capture_output=True, text=True, check=False)
    if ping.returncode != 0 or "UP" not in ping.stdout:
        pytest.skip(f"slurmctld is not running ({ping.stdout.strip() or ping.stderr.strip()}): "
                    "run scripts/services/slurm start")
    return conf
