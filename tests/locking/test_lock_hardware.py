"""CUDA/GPU checks after resolution, against the local PyPI-like and PyTorch-like indexes."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.conftest import LocalIndex
from tests.helpers import run_cli


def lock(tmp_path: Path, body: str) -> tuple[int, str, Path]:
    manifest = tmp_path / "envbuild.toml"
    manifest.write_text('[project]\nname = "gpu"\npython = "3.11"\n' + body)
    result = run_cli(["lock", "-f", str(manifest)])
    return result.code, result.err, tmp_path / "envbuild.lock"


def test_cuda_target_locks_with_driver_floor_and_consulted_rows(eb_env: dict[str, str],
                                                                tmp_path: Path) -> None:
    code, err, path = lock(tmp_path, '[dependencies]\npython = ["torch==2.5.1"]\n'
                                     '[targets.h100]\nplatform = "linux/amd64"\ncuda = "12.4"\n'
                                     'gpus = ["H100", "A100"]\n')
    assert code == 0, err
    target = tomllib.loads(path.read_text())["targets"]["h100"]
    assert target["driver-floor"] == "550.54.14"
    assert target["gpus"] == ["A100", "H100"]
    ids = [row["row_id"] for row in target["hardware"]]
    assert ids == sorted(ids) and any("H100" in i for i in ids) and any("12.4" in i for i in ids)
    assert not any("B200" in i or "L4" in i for i in ids)  # only the rows this target consulted
    names = {p["name"] for p in target["packages"]}
    assert "nvidia-cuda-runtime-cu12" in names


def test_cpu_build_on_a_cuda_target_is_refused(eb_env: dict[str, str], tmp_path: Path) -> None:
    # PyPI's aarch64 torch 2.5.1 is a CPU build with no "+cpu" suffix.
    code, err, path = lock(tmp_path, '[dependencies]\npython = ["torch==2.5.1"]\n'
                                     '[targets.gh200]\nplatform = "linux/arm64"\ncuda = "12.4"\n'
                                     'gpus = ["GH200"]\n')
    assert code == 2
    assert 'target "gh200"' in err and "torch 2.5.1" in err and "CPU build" in err
    assert not path.exists()


def test_runtime_wheels_must_match_the_declared_cuda(eb_env: dict[str, str], tmp_path: Path) -> None:
    code, err, _ = lock(tmp_path, '[dependencies]\npython = ["torch==2.5.1"]\n'
                                  '[targets.a10g]\nplatform = "linux/amd64"\ncuda = "12.1"\n'
                                  'gpus = ["A10G"]\n')
    assert code == 2
    assert 'target "a10g"' in err and "12.4" in err and "12.1" in err


def test_blackwell_needs_a_cuda_128_build(eb_env: dict[str, str], tmp_path: Path) -> None:
    code, err, _ = lock(tmp_path, '[dependencies]\npython = ["torch==2.5.1"]\n'
                                  '[targets.b200]\nplatform = "linux/amd64"\ncuda = "12.8"\n'
                                  'gpus = ["B200"]\n')
    assert code == 2
    # One line for one root cause, naming only builds PyTorch publishes (2.5.1 has no cu128).
    assert err.splitlines()[1:] == [
        'error: target "b200": torch 2.5.1 is a cu124 build (nvidia-cuda-runtime-cu12 '
        "12.4.127), but the target declares cuda 12.8 and GPU B200 (sm_100) needs a cuda 12.8 or "
        "newer build; the CUDA 12.4 runtime wheels it pulls (nvidia-cuda-cupti-cu12, "
        "nvidia-cuda-nvrtc-cu12, nvidia-cuda-runtime-cu12, nvidia-nvjitlink-cu12) come with it. "
        "Fix: torch 2.5.1 has no cu128 build: pin torch>=2.7 (the first release with cu128 "
        'builds) and route it to a cu128 index (sources = { torch = "<index>" }).',
        "hint: the lock was not written; fix the target or its sources and lock again"]


def test_routed_cu121_build_passes_on_its_own_target(eb_env: dict[str, str], tmp_path: Path,
                                                     local_index: LocalIndex) -> None:
    code, err, path = lock(tmp_path, f'[indexes]\npytorch = {{ url = "{local_index.url("pytorch")}" }}\n'
                                     '[targets.a10g]\nplatform = "linux/amd64"\ncuda = "12.1"\n'
                                     'gpus = ["A10G", "L4"]\ndependencies = ["torch==2.5.1+cu121"]\n'
                                     'sources = { torch = "pytorch" }\n')
    assert code == 0, err
    target = tomllib.loads(path.read_text())["targets"]["a10g"]
    assert target["driver-floor"] == "530.30.02"


def test_cuda_target_without_torch_still_locks(eb_env: dict[str, str], tmp_path: Path) -> None:
    code, err, _ = lock(tmp_path, '[dependencies]\npython = ["nvidia-cuda-runtime-cu12==12.4.127"]\n'
                                  '[targets.jax]\nplatform = "linux/amd64"\ncuda = "12.4"\n'
                                  'gpus = ["H100"]\n')
    assert code == 0, err


def test_unknown_gpu_gets_a_suggestion_before_any_resolution(eb_env: dict[str, str], tmp_path: Path,
                                                             local_index: LocalIndex) -> None:
    local_index.clear_log()
    code, err, _ = lock(tmp_path, '[targets.h100]\nplatform = "linux/amd64"\ncuda = "12.4"\n'
                                  'gpus = ["H1000"]\n')
    assert code == 2
    assert 'envbuild.toml:7: targets.h100.gpus[0]: unknown GPU "H1000"; did you mean "H100"?' in err
    assert local_index.log == []


def test_torch_metadata_feeds_the_library_range_check(eb_env: dict[str, str], tmp_path: Path,
                                                      fresh_index: LocalIndex,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_DEFAULT_INDEX", fresh_index.url("pypi"))
    body = ('[dependencies]\npython = ["torch==2.5.1"]\n'
            '[targets.h100]\nplatform = "linux/amd64"\ncuda = "12.4"\ngpus = ["H100"]\n')
    code, err, _ = lock(tmp_path, body)
    assert code == 0, err
    assert any(r.path.endswith("torch-2.5.1-cp311-cp311-manylinux1_x86_64.whl.metadata")
               for r in fresh_index.log)
    assert "were not checked" not in err
    fresh_index.server.configure("pypi", publish_metadata=False)
    code, err, _ = lock(tmp_path, body.replace('"H100"]', '"H100", "A100"]'))
    assert code == 0, err
    assert ('warning: target "h100": torch-2.5.1-cp311-cp311-manylinux1_x86_64.whl: its index serves '
            "no metadata file, so the NVIDIA library versions were not checked") in err


def test_a_hardware_warning_names_its_target_once(eb_env: dict[str, str], tmp_path: Path) -> None:
    # PyPI's x86_64 torch 2.5.1 is a CUDA build: on a CPU target it runs, with a warning.
    code, err, _ = lock(tmp_path, '[dependencies]\npython = ["torch==2.5.1"]\n'
                                  '[targets.cpu]\nplatform = "linux/amd64"\n')
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert warnings == [
        'warning: target "cpu": torch 2.5.1 is a cu124 build (nvidia-cuda-runtime-cu12 12.4.127) on a '
        "target without cuda; it runs on the CPU but pulls the CUDA runtime wheels. To slim the "
        'environment, route torch to a CPU index (sources = { torch = "<index>" }).']
