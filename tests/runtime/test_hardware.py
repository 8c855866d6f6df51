"""GPU checks against recorded NVML answers, and the name and version rules beneath them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from envbuild.runtime import nvml
from envbuild.runtime.gpus import identify, known_gpus
from envbuild.runtime.hardware import check_hardware
from envbuild.runtime.target import read_lock
from envbuild.runtime.versions import at_least, same_version
from tests.helpers import run_cli
from tests.runtime.envs import BASE, FIXTURES, H100_HASH, H100_ROW, gpu_targets, write_lock

NO_GPU = ("no-gpu: no GPU found ({why}); target h100 needs H100; on machines without GPUs "
          "pass --no-hardware (or set ENVBUILD_NO_HARDWARE=1)")


@pytest.fixture
def lock(tmp_path: Path) -> Path:
    return write_lock(tmp_path / "envbuild.lock", *gpu_targets(BASE))


def verify_on(lock: Path, python: Path, probe: str, monkeypatch: pytest.MonkeyPatch,
              *extra: str) -> tuple[int, str]:
    monkeypatch.setenv("ENVBUILD_NVML_PROBE", str(FIXTURES / probe))
    result = run_cli(["verify", "--lock", str(lock), "--python", str(python), *extra])
    return result.code, result.err


def test_h100_host_passes(lock: Path, golden_venv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert verify_on(lock, golden_venv, "h100-8x.json", monkeypatch, "--target", "h100") == (
        0, f"verified: target h100 ({H100_HASH})\n")


def test_old_driver_fails_naming_driver_and_floor(lock: Path, golden_venv: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    assert verify_on(lock, golden_venv, "a100-old-driver.json", monkeypatch,
                     "--target", "a100") == (1, (
        "target a100: 1 mismatch\n"
        "  driver: driver 525.60.13 is older than target a100's floor 530.30.02\n"))


def test_wrong_gpu_model_fails(lock: Path, golden_venv: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    code, err = verify_on(lock, golden_venv, "h100-8x.json", monkeypatch, "--target", "a100")
    assert (code, err) == (1, (
        "target a100: 1 mismatch\n"
        "  gpu-model: GPUs 0-7 are NVIDIA H100 80GB HBM3 (H100); target a100 declares A100\n"))


def test_no_gpus_fails_unless_no_hardware(lock: Path, golden_venv: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    code, err = verify_on(lock, golden_venv, "no-gpus.json", monkeypatch, "--target", "h100")
    assert (code, err.splitlines()[-1]) == (
        1, "  " + NO_GPU.format(why="NVML reports 0 devices"))
    assert verify_on(lock, golden_venv, "no-gpus.json", monkeypatch, "--target", "h100",
                     "--no-hardware") == (0, (
        "note: hardware not checked (--no-hardware)\n"
        f"verified: target h100 ({H100_HASH})\n"))
    monkeypatch.setenv("ENVBUILD_NO_HARDWARE", "1")
    assert verify_on(lock, golden_venv, "no-gpus.json", monkeypatch, "--target", "h100")[0] == 0


def test_no_nvml_library_fails_saying_so(lock: Path, golden_venv: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    code, err = verify_on(lock, golden_venv, "no-nvml.json", monkeypatch, "--target", "h100")
    assert (code, err.splitlines()[-1]) == (1, "  " + NO_GPU.format(
        why="NVML could not be initialised: NVML Shared Library Not Found"))


def test_cpu_target_skips_hardware(lock: Path, golden_venv: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    assert verify_on(lock, golden_venv, "no-nvml.json", monkeypatch, "--target", "cpu")[0] == 0


def test_unreadable_probe_is_bad_input(lock: Path, golden_venv: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    code, err = verify_on(lock, golden_venv, "absent.json", monkeypatch, "--target", "h100")
    assert code == 2
    assert "ENVBUILD_NVML_PROBE=" in err and "cannot read the probe" in err


def test_compute_capability_must_agree(lock: Path) -> None:
    spec = read_lock(lock, "h100", {})
    host = nvml.from_probe({"schema": 1, "nvml": True, "driver_version": "560.35.03",
                            "gpus": [{"index": 0, "name": "NVIDIA H100 PCIe",
                                      "compute_capability": "8.0"}]}, source="test")
    assert [m.render() for m in check_hardware(spec, host)] == [
        "compute-capability: GPU 0 is NVIDIA H100 PCIe with compute capability 8.0; "
        "H100 has 9.0"]


def test_driver_floor_compares_numerically(lock: Path) -> None:
    spec = read_lock(lock, "h100", {})
    doc = json.loads((FIXTURES / "h100-8x.json").read_text())
    doc["driver_version"] = "550.100.01"  # a string comparison would call this older
    assert check_hardware(spec, nvml.from_probe(doc, source="test")) == []


@pytest.mark.parametrize(("product", "expected"), [
    ("NVIDIA H100 80GB HBM3", "H100"), ("NVIDIA H100 PCIe", "H100"), ("NVIDIA H100 NVL", "H100"),
    ("NVIDIA H200", "H200"), ("NVIDIA GH200 480GB", "GH200"), ("NVIDIA A10G", "A10G"),
    ("NVIDIA L4", "L4"), ("NVIDIA L40S", "L40S"), ("Tesla T4", "T4"),
    ("Tesla V100-SXM2-16GB", "V100"), ("NVIDIA A100-SXM4-80GB", "A100"),
    ("NVIDIA A100 80GB PCIe", "A100"), ("NVIDIA B200", "B200"),
    ("NVIDIA RTX PRO 6000 Blackwell Server Edition", "RTX PRO 6000"),
    ("NVIDIA GeForce RTX 4090", None),
])
def test_nvml_product_names_map_to_gpus(product: str, expected: str | None) -> None:
    found = identify(product, known_gpus([H100_ROW]))
    assert (found.name if found else None) == expected


@pytest.mark.parametrize(("have", "floor", "expected"), [
    ("550.90.07", "550.54.14", True), ("525.60.13", "530.30.02", False),
    ("570.26", "570.124.06", False), ("1000.1", "999.99.99", True), ("550", "550.0.0", True),
    ("abc", "550", None),
])
def test_at_least(have: str, floor: str, expected: bool | None) -> None:
    assert at_least(have, floor) is expected


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("1.0", "1.0.0", True), ("1.0RC1", "1.0rc1", True), ("2.5.1+cu121", "2.5.1+CU121", True),
    ("2.5.1+cu121", "2.5.1", False), ("2.5.1+cu121", "2.5.1+cu124", False),
    ("1.0.post1", "1.0-1", True), ("1!1.0", "1.0", False), ("1.0.dev0", "1.0", False),
])
def test_same_version(a: str, b: str, expected: bool) -> None:
    assert same_version(a, b) is expected


def test_probe_without_binding_reports_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` fail
    assert nvml.probe() == {
        "schema": 1, "nvml": False, "binding": None, "driver_version": None,
        "cuda_driver_version": None, "gpus": [],
        "error": "the NVML binding (pynvml, from nvidia-ml-py) is not installed"}


@pytest.mark.parametrize("name", ["h100-8x.json", "a100-old-driver.json", "no-gpus.json",
                                  "no-nvml.json"])
def test_fixtures_have_the_probe_format(name: str) -> None:
    doc = json.loads((FIXTURES / name).read_text())
    assert sorted(doc) == sorted(nvml.probe())
    nvml.from_probe(doc, source=name)
