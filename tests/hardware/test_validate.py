"""Manifest-time hardware validation: known CUDA, known GPUs, GPUs the CUDA version supports."""

from __future__ import annotations

import pytest

from envbuild.hardware.compat import validate_gpu_for_cuda, validate_target
from envbuild.hardware.facts import load_facts
from envbuild.hardware.validate import canonical_gpu, validate_cuda, validate_gpu
from envbuild.hardware.versions import canonical_cuda

from .support import target

KNOWN = "11.8, 12.0, 12.1, 12.2, 12.3, 12.4, 12.5, 12.6, 12.8, 12.9, 13.0, 13.1, 13.2"


def test_a_sound_target_has_no_problems() -> None:
    assert validate_target(target("h100", "H100", "A100")) == ()
    assert validate_target(target("gh200", "GH200", platform="linux/arm64")) == ()
    assert validate_target(target("cpu", cuda=None, platform="darwin/arm64")) == ()


@pytest.mark.parametrize(("cuda", "message"), [
    ("12.4", None),
    ("12.7", f'unknown CUDA version "12.7"; known versions: {KNOWN}'),
    ("11.7", f'unknown CUDA version "11.7"; known versions: {KNOWN}'),
    ("12.4.0", None),
    ("12.4.1", 'cuda "12.4.1" must be major.minor; did you mean "12.4"?'),
    ("twelve", 'invalid cuda version "twelve"; write major.minor, e.g. "13.2"'),
])
def test_cuda_versions(cuda: str, message: str | None) -> None:
    assert validate_cuda(cuda) == message


def test_unknown_gpus_get_a_suggestion_or_the_list() -> None:
    assert validate_gpu("H1000") == 'unknown GPU "H1000"; did you mean "H100"?'
    assert validate_gpu("h100-pcie") is None
    assert validate_gpu("quantum-annealer") == (
        'unknown GPU "quantum-annealer"; known GPUs: V100, T4, A100, A100-40GB, A100-80GB, A10G, '
        "L4, L40S, A30, A800, A10, A40, L40, L20, H100, H200, H800, H20, GH200, B200, GB200, "
        "B300, GB300, RTX PRO 6000")


@pytest.mark.parametrize(("gpu", "cuda", "message"), [
    ("H100", "11.7", 'GPU H100 (sm_90) needs cuda 11.8 or newer; the target declares cuda 11.7. '
                     'Fix: declare cuda = "11.8" or newer.'),
    ("B200", "12.4", 'GPU B200 (sm_100) needs cuda 12.8 or newer; the target declares cuda 12.4. '
                     'Fix: declare cuda = "12.8" or newer.'),
    ("V100", "13.0", "GPU V100 (sm_70) is not supported by cuda 13.0 or newer (CUDA 13.0 dropped "
                     'sm_70); the target declares cuda 13.0. Fix: declare cuda = "12.9" or older.'),
    ("V100", "12.9", None), ("B300", "12.9", None), ("h100-nvl", "12.4", None),
    ("H1000", "12.4", 'unknown GPU "H1000"; did you mean "H100"?'),
])
def test_gpu_for_cuda(gpu: str, cuda: str, message: str | None) -> None:
    assert validate_gpu_for_cuda(gpu, cuda) == message


def test_grace_superchips_need_an_arm64_platform() -> None:
    assert validate_gpu_for_cuda("GH200", "12.4", platform="linux/amd64") == (
        'GPU GH200 runs only on aarch64 hosts; the target\'s platform is "linux/amd64". '
        'Fix: set platform = "linux/arm64".')
    assert validate_gpu_for_cuda("GH200", "12.4", platform="linux/arm64") is None


def test_every_problem_of_a_target_with_its_key() -> None:
    problems = validate_target(target("x", "H100", "H1000", "B200", cuda="12.4"))
    assert problems == (
        ("gpus[1]", 'unknown GPU "H1000"; did you mean "H100"?'),
        ("gpus[2]", 'GPU B200 (sm_100) needs cuda 12.8 or newer; the target declares cuda 12.4. '
                    'Fix: declare cuda = "12.8" or newer.'),
    )


def test_cuda_needs_linux() -> None:
    assert validate_target(target("mac", cuda="12.4", platform="darwin/arm64")) == (
        ("cuda", 'cuda needs a linux platform; the target\'s platform is "darwin/arm64". Fix: '
                 'remove cuda, or set platform = "linux/amd64" or "linux/arm64".'),)


def test_gpus_without_cuda() -> None:
    assert validate_target(target("g", "V100", "H100", cuda=None)) == (
        ("gpus", "gpus are declared but cuda is not, and a target without CUDA cannot use a GPU. "
                 'Fix: declare the CUDA version the target runs, e.g. cuda = "12.9", or remove gpus '
                 "for a CPU-only target."),)


def test_gpus_on_a_platform_without_cuda() -> None:
    assert validate_target(target("mac", "H100", cuda=None, platform="darwin/arm64")) == (
        ("gpus", 'NVIDIA GPUs need a linux platform with cuda; the target\'s platform is '
                 '"darwin/arm64". Fix: remove gpus for a CPU-only target, or set platform = '
                 '"linux/amd64" or "linux/arm64" and declare cuda.'),)


@pytest.mark.parametrize(("written", "canonical"), [
    ("H100", "H100"), ("h100", "H100"), ("NVIDIA H100-PCIe", "H100"), ("rtx pro 6000", "RTX PRO 6000"),
    ("a100-80gb", "A100-80GB"), ("H1000", None),
])
def test_gpus_have_one_canonical_name(written: str, canonical: str | None) -> None:
    assert canonical_gpu(written) == canonical


@pytest.mark.parametrize(("written", "canonical"), [
    ("12.4", "12.4"), ("12.4.0", "12.4"), (" 13.0 ", "13.0"), ("12.4.1", None), ("12", None),
    ("twelve", None), ("12.4.0.0", None),
])
def test_cuda_versions_have_one_canonical_spelling(written: str, canonical: str | None) -> None:
    assert canonical_cuda(written) == canonical


@pytest.mark.parametrize(("typed", "meant"), [("A1OO", "A100"), ("HI00", "H100"), ("l40s", None),
                                              ("L4OS", "L40S"), ("L4O", "L40")])
def test_look_alike_characters_are_suggested(typed: str, meant: str | None) -> None:
    assert (None if canonical_gpu(typed) else load_facts().suggest_gpu(typed)) == meant
