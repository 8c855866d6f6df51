"""scripts/gpu-check: probe, lock for the GPUs found, real `envbuild verify`; exit 2 without NVML.

No GPU host is at hand here, so the verified path runs on recorded probes (hand-written in
the probe format); on a GPU host the script's own probe becomes such a fixture.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from envbuild.lockfile import load
from envbuild.runtime import nvml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu-check"
NVML = ROOT / "tests" / "fixtures" / "nvml"


def gpu_check(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in (nvml.PROBE_ENV, "OUT")}
    return subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), *args], env=env,
                          capture_output=True, text=True, check=False, timeout=120)


def test_without_nvml_it_prints_the_probe_and_exits_2(tmp_path: Path) -> None:
    if nvml.probe()["nvml"]:
        pytest.skip("this host has NVML: the no-NVML path is tested on hosts without it")
    done = gpu_check(tmp_path)
    assert done.returncode == 2
    probe = json.loads(done.stdout)
    assert probe["nvml"] is False and probe["gpus"] == []
    assert done.stderr == (f"error: no NVML on this machine ({probe['error']}); "
                           "scripts/gpu-check needs a host with an NVIDIA driver and GPU\n")
    assert json.loads((tmp_path / "probe.json").read_text("utf-8")) == probe
    assert not (tmp_path / "envbuild.lock").exists()


def test_recorded_probe_without_nvml_exits_2(tmp_path: Path) -> None:
    done = gpu_check(tmp_path, "--probe", str(NVML / "no-nvml.json"))
    assert done.returncode == 2
    assert done.stderr == ("error: no NVML on this machine (NVML could not be initialised: NVML "
                           "Shared Library Not Found); scripts/gpu-check needs a host with an "
                           "NVIDIA driver and GPU\n")


def test_nvml_without_gpus_exits_2(tmp_path: Path) -> None:
    done = gpu_check(tmp_path, "--probe", str(NVML / "no-gpus.json"))
    assert done.returncode == 2
    assert done.stderr == ("error: NVML answers but reports no GPU; scripts/gpu-check needs at "
                           "least one\n")


def test_a_gpu_the_data_does_not_know_exits_2(tmp_path: Path) -> None:
    done = gpu_check(tmp_path, "--probe", str(NVML / "unknown-gpu.json"))
    assert done.returncode == 2
    assert done.stderr == ('error: GPU 0 "NVIDIA Quasar Q1" (compute capability 11.5) is not in '
                           "envbuild's hardware data; add its row to "
                           "envbuild/hardware/hardware.toml\n")


def test_h200_host_is_locked_and_verified(tmp_path: Path) -> None:
    done = gpu_check(tmp_path, "--probe", str(NVML / "h200-8x.json"))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.split("\ntarget gpu:")[0]) == \
        json.loads((NVML / "h200-8x.json").read_text("utf-8"))
    # Driver 570.124.06 meets 12.8's floor (570.26), not 12.9's (575.51.03).
    assert ("target gpu: gpus = ['H200'], cuda = 12.8, driver-floor = 570.26 "
            "(driver 570.124.06, CUDA 12.8)") in done.stdout
    assert f"cp {tmp_path / 'probe.json'} tests/fixtures/nvml/h200-8x-570.124.06.json" in done.stdout
    assert "verified: target gpu" in done.stderr
    target = load(tmp_path / "envbuild.lock").targets["gpu"]  # the lock proves
    assert (target.gpus, target.cuda, target.driver_floor) == (("H200",), "12.8", "570.26")
    assert [row["row_id"] for row in target.hardware] == ["cuda:12.8", "gpu:H200"]


def test_verify_refuses_a_host_whose_gpus_changed_after_the_lock(tmp_path: Path) -> None:
    # The lock names the H200s found; the same lock on an H100 host must fail verify, which
    # shows the script's verify step really asks NVML (here: the recorded probe) again.
    assert gpu_check(tmp_path, "--probe", str(NVML / "h200-8x.json")).returncode == 0
    env = {k: v for k, v in os.environ.items() if k != "OUT"}
    env[nvml.PROBE_ENV] = str(NVML / "h100-8x.json")
    done = subprocess.run([sys.executable, "-m", "envbuild", "verify", "--lock",
                           str(tmp_path / "envbuild.lock"), "--python",
                           str(tmp_path / "venv" / "bin" / "python")],
                          env=env, capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 1
    assert done.stderr.endswith(
        "target gpu: 2 mismatches\n"
        "  gpu-model: GPUs 0-7 are NVIDIA H100 80GB HBM3 (H100); target gpu declares H200\n"
        "  driver: driver 550.90.07 is older than target gpu's floor 570.26\n")


def checkout(tmp_path: Path) -> Path:
    """A checkout of its own: the script and envbuild, so that its .venv can be chosen."""
    root = tmp_path / "checkout"
    (root / "scripts").mkdir(parents=True)
    shutil.copy2(SCRIPT, root / "scripts" / "gpu-check")
    (root / "envbuild").symlink_to(ROOT / "envbuild")
    return root


def bare_venv(path: Path, *, with_deps: bool = False) -> Path:
    """A venv without pynvml; `with_deps`: one that sees this interpreter's site-packages
    (envbuild's dependencies, nvidia-ml-py among them) through a .pth file."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    if with_deps:
        site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                              capture_output=True, text=True, check=True).stdout.strip()
        Path(site, "deps.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    return python


def run_script(python: Path, root: Path, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in (nvml.PROBE_ENV, "OUT", "PYTHONPATH")}
    return subprocess.run([str(python), str(root / "scripts" / "gpu-check"), "--out", str(out),
                           *args], env=env, capture_output=True, text=True, check=False,
                          timeout=120)


def no_binding(python: Path, venv_python: Path) -> str:
    return (f"error: the NVML binding (pynvml, from nvidia-ml-py) is not installed for {python}; "
            f"run scripts/gpu-check with the project venv's python, {venv_python} "
            "(scripts/try or scripts/test make .venv)\n")


def test_a_python_without_the_binding_runs_again_with_the_checkouts_venv(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    venv_python = bare_venv(root / ".venv", with_deps=True)
    host = bare_venv(tmp_path / "host")  # python3 as `#!/usr/bin/env` finds it: no pynvml
    done = run_script(host, root, tmp_path / "out", "--probe", str(NVML / "h200-8x.json"))
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith(f"note: {host} has no NVML binding (pynvml); running again "
                                  f"with {venv_python}\n")
    assert "verified: target gpu" in done.stderr
    # The verify step ran in the venv's python too (the lock is for its Python).
    assert load(tmp_path / "out" / "envbuild.lock").targets["gpu"].gpus == ("H200",)


def test_without_the_binding_or_a_checkout_venv_it_names_the_python_to_use(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    host = bare_venv(tmp_path / "host")
    done = run_script(host, root, tmp_path / "out")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == no_binding(host, root / ".venv" / "bin" / "python")


def test_the_checkout_venv_without_the_binding_is_not_run_again(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    venv_python = bare_venv(root / ".venv")
    done = run_script(venv_python, root, tmp_path / "out")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == no_binding(venv_python, venv_python)
