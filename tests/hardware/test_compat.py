"""Lock-time refusals and warnings of check_target, with the exact user-facing messages."""

from __future__ import annotations

import pytest

from envbuild.errors import ExitCode
from envbuild.hardware.compat import HardwareCompatError, ResolvedPackage, check_target, refuse

from .support import facts_with, index_torch, pkg, pypi_torch, resolution, target

ROUTE = 'sources = { torch = "<index>" }'


def test_cuda_target_without_torch_passes_and_records_its_driver_floor() -> None:
    packages = resolution(pkg("jax", "0.4.35"), pkg("nvidia-cuda-runtime-cu12", "12.4.127"),
                          pkg("nvidia-cudnn-cu12", "9.5.1.17"))
    report = check_target(target("jax", "H100"), packages)
    assert report.ok and report.problems == () and report.warnings == ()
    assert (report.driver_floor, report.driver_floor_compat) == ("550.54.14", "525.60.13")
    assert report.cuda_variant is None


def test_cuda_target_without_torch_still_checks_runtime_wheels() -> None:
    packages = resolution(pkg("nvidia-cuda-runtime-cu12", "12.1.105"))
    report = check_target(target("jax", "H100"), packages)
    assert report.problems == (
        'target "jax": nvidia-cuda-runtime-cu12 12.1.105 carries CUDA 12.1, but the target '
        "declares cuda 12.4 (it must match major.minor). Fix: pin it to a 12.4 release or declare "
        'cuda = "12.1".',)


def test_pypi_torch_matching_the_target_passes() -> None:
    report = check_target(target("h100", "H100", "A100"), pypi_torch("2.5.1", "12.4.127"))
    assert report.ok and report.warnings == ()
    assert report.cuda_variant == "cu124"


def test_l4_runs_sm_86_code() -> None:
    # torch 2.5.1+cu121 has no sm_89; L4 (8.9) runs its sm_86 code.
    report = check_target(target("l4", "L4", "A10G", cuda="12.1"), index_torch("2.5.1+cu121"))
    assert report.ok, report.problems
    assert report.cuda_variant == "cu121"


def test_same_major_only_sm_90_code_does_not_run_on_l4() -> None:
    report = check_target(target("arm", "L4", platform="linux/arm64"), index_torch("2.5.1+cu124"))
    assert report.problems == (
        'target "arm": GPU L4 (sm_89) has no code in torch 2.5.1+cu124 (a cu124 build compiled '
        "for sm_90; PTX does not cross majors). Fix: pin a torch release whose cu124 build "
        "includes sm_89.",)


def test_b200_refused_on_cu124() -> None:
    report = check_target(target("b200", "B200"), pypi_torch("2.5.1", "12.4.127"))
    assert report.problems == (
        'target "b200": GPU B200 (sm_100) needs a cuda 12.8 or newer build of torch; torch '
        "2.5.1 resolved to a cu124 build. Fix: torch 2.5.1 has no cu128 build: pin torch>=2.7 "
        f"(the first release with cu128 builds) and route it to a cu128 index ({ROUTE}) and "
        'declare cuda = "12.8".',)


def test_b300_needs_a_cuda_12_9_build_even_with_sm_100_code() -> None:
    report = check_target(target("b300", "B300", cuda="12.8"), index_torch("2.8.0+cu128"))
    assert report.problems == (
        'target "b300": GPU B300 (sm_103) needs a cuda 12.9 or newer build of torch; torch '
        "2.8.0+cu128 resolved to a cu128 build. Fix: route torch to a cu129 index "
        f'({ROUTE}) and declare cuda = "12.9".',)
    assert check_target(target("b300", "B300", cuda="12.9"), index_torch("2.8.0+cu129")).ok


def test_v100_refused_on_cu130_era_build() -> None:
    report = check_target(target("v100", "V100", cuda="13.0"), index_torch("2.9.0+cu130"))
    assert report.problems == (
        'target "v100": GPU V100 (sm_70) is not supported by cuda 13.0 or newer builds; torch '
        f"2.9.0+cu130 resolved to a cu130 build. Fix: route torch to a cu128 index ({ROUTE}) "
        'and declare cuda = "12.8".',)


def test_v100_refused_on_2_7_1_cu128_but_not_on_2_8_cu128() -> None:
    report = check_target(target("v100", "V100", cuda="12.8"), index_torch("2.7.1+cu128"))
    assert report.problems == (
        'target "v100": GPU V100 (sm_70) has no code in torch 2.7.1+cu128 (a cu128 build '
        "compiled for sm_75, sm_80, sm_86, sm_90, sm_100, sm_120; PTX does not cross majors). "
        f'Fix: route torch to a cu126 index ({ROUTE}) and declare cuda = "12.6", or pin a torch '
        "release whose cu128 build includes sm_70.",)
    assert check_target(target("v100", "V100", cuda="12.8"), index_torch("2.8.0+cu128")).ok


def test_ptx_across_majors_does_not_count() -> None:
    # cu130 ships compute_120 PTX; a 13.x GPU still has no code in it.
    future = {"name": "X300", "compute_capability": "13.0", "first_cuda": "13.0",
              "slurm_gres": "x300", "source": "test", "confidence": "verified",
              "vocab_confidence": "verified"}
    facts = facts_with(gpu=[future])
    report = check_target(target("x", "X300", cuda="13.0"), index_torch("2.9.0+cu130"),
                          facts=facts)
    assert report.problems == (
        'target "x": GPU X300 (sm_130) has no code in torch 2.9.0+cu130 (a cu130 build compiled '
        "for sm_75, sm_80, sm_86, sm_90, sm_100, sm_120; PTX does not cross majors). Fix: pin "
        "a torch release whose cu130 build includes sm_130.",)
    assert check_target(target("x", "RTX PRO 6000", cuda="13.0"), index_torch("2.9.0+cu130")).ok


def test_aarch64_cpu_torch_refused_on_cuda_target() -> None:
    # PyPI's aarch64 torch 2.5.1: a CPU build with no +cpu suffix and no nvidia dependency.
    packages = resolution(pkg("torch", "2.5.1", "filelock", "sympy"), pkg("filelock", "3.16.1"),
                          pkg("sympy", "1.13.1"))
    report = check_target(target("gh200", "GH200", platform="linux/arm64"), packages)
    assert report.cuda_variant == "cpu"
    assert report.problems == (
        'target "gh200": torch 2.5.1 resolved to a CPU build (no +cuXXX local version and no '
        "CUDA runtime dependency), but the target declares cuda 12.4 for GH200. Fix: route torch "
        f"to a cu124 index ({ROUTE}) or pin a torch release that ships cu124 builds.",)


def test_cpu_local_version_refused_on_cuda_target() -> None:
    report = check_target(target("h100", "H100"), index_torch("2.5.1+cpu"))
    assert report.problems == (
        'target "h100": torch 2.5.1+cpu resolved to a CPU build (local version +cpu), but the '
        f"target declares cuda 12.4 for H100. Fix: route torch to a cu124 index ({ROUTE}).",)


def test_rocm_build_refused_on_cuda_target() -> None:
    report = check_target(target("h100"), index_torch("2.5.1+rocm6.2"))
    assert report.problems == (
        'target "h100": torch 2.5.1+rocm6.2 resolved to a rocm6.2 build (local version '
        f"+rocm6.2), but the target declares cuda 12.4. Fix: route torch to a cu124 index "
        f"({ROUTE}).",)


def test_torch_of_another_cuda_version_refused() -> None:
    report = check_target(target("a10g", "A10G", cuda="12.1"), index_torch("2.5.1+cu124"))
    assert report.problems == (
        'target "a10g": torch 2.5.1+cu124 is a cu124 build (local version +cu124), but the '
        f"target declares cuda 12.1. Fix: route torch to a cu121 index ({ROUTE}) or declare "
        'cuda = "12.4".',)


def test_runtime_wheel_mismatch_refused() -> None:
    report = check_target(target("h100", "H100"), pypi_torch("2.4.1", "12.1.105"))
    assert report.problems == (
        'target "h100": torch 2.4.1 is a cu121 build (nvidia-cuda-runtime-cu12 12.1.105), but '
        "the target declares cuda 12.4; the CUDA 12.1 runtime wheels it pulls "
        "(nvidia-cuda-cupti-cu12, nvidia-cuda-nvrtc-cu12, nvidia-cuda-runtime-cu12) come with "
        f'it. Fix: route torch to a cu124 index ({ROUTE}) or declare cuda = "12.1".',)


def test_declaring_the_other_cuda_is_offered_only_where_the_gpus_allow_it() -> None:
    report = check_target(target("b200", "B200", cuda="12.8"),
                          resolution(pkg("nvidia-cuda-runtime-cu12", "12.4.127")))
    assert report.problems == (
        'target "b200": nvidia-cuda-runtime-cu12 12.4.127 carries CUDA 12.4, but the target '
        "declares cuda 12.8 (it must match major.minor). Fix: pin it to a 12.8 release.",)


def test_newer_nvjitlink_is_accepted_older_refused() -> None:
    # torch 2.4 does not pin nvjitlink; cuSPARSE pulls the newest 12.x, which works.
    newer = pypi_torch("2.4.1", "12.1.105", pkg("nvidia-nvjitlink-cu12", "12.6.85"))
    assert check_target(target("a10g", "A10G", cuda="12.1"), newer).ok
    older = pypi_torch("2.5.1", "12.4.127", pkg("nvidia-nvjitlink-cu12", "12.1.105"))
    assert check_target(target("h100", "H100"), older).problems == (
        'target "h100": nvidia-nvjitlink-cu12 12.1.105 (pulled in by torch) carries CUDA 12.1, but '
        "the target declares cuda 12.4 (it must be 12.4 or a newer 12.x). Fix: pin nvidia-nvjitlink-cu12 to a 12.4 or "
        'newer 12.x release or declare cuda = "12.1".',)


def test_cuda_13_wheels_have_no_suffix() -> None:
    packages = resolution(pkg("torch", "2.9.0+cu130", "nvidia-cuda-runtime"),
                          pkg("nvidia-cuda-runtime", "13.0.96"), pkg("nvidia-nvjitlink", "13.0.88"))
    assert check_target(target("b200", "B200", cuda="13.0"), packages).ok
    stray = resolution(pkg("nvidia-cuda-nvrtc-cu12", "12.8.93"))
    assert check_target(target("b200", "B200", cuda="13.0"), stray).problems == (
        'target "b200": nvidia-cuda-nvrtc-cu12 12.8.93 carries CUDA 12.8, but the target declares '
        "cuda 13.0 (it must match major.minor). Fix: use CUDA 13 builds of the packages that "
        'need it or declare cuda = "12.8".',)


LINUX_X86 = 'platform_system == "Linux" and platform_machine == "x86_64"'
TORCH_251_REQUIRES = (
    f"nvidia-cudnn-cu12==9.1.0.70; {LINUX_X86}",
    f"nvidia-nccl-cu12==2.21.5; {LINUX_X86}",
    f"nvidia-cuda-runtime-cu12==12.4.127; {LINUX_X86}",
    f'triton==3.1.0; {LINUX_X86} and python_version < "3.13"',
    'opt-einsum>=3.3; extra == "opt-einsum"',
)


def test_other_nvidia_libraries_are_checked_against_torchs_ranges() -> None:
    packages = pypi_torch("2.5.1", "12.4.127", pkg("nvidia-cudnn-cu12", "9.5.1.17"),
                          pkg("nvidia-nccl-cu12", "2.21.5"))
    report = check_target(target("h100", "H100"), packages, torch_requires=TORCH_251_REQUIRES)
    assert report.problems == (
        'target "h100": nvidia-cudnn-cu12 9.5.1.17 is outside the range torch 2.5.1 declares for '
        "it (==9.1.0.70). Fix: remove the pin or override that selects nvidia-cudnn-cu12 "
        "9.5.1.17, or pin a torch release that accepts it.",)


def test_torch_ranges_follow_the_targets_platform_markers() -> None:
    # The requirements are gated on x86_64: an arm64 target does not judge by them.
    packages = resolution(pkg("torch", "2.5.1+cu124", "nvidia-cudnn-cu12"),
                          pkg("nvidia-cudnn-cu12", "9.5.1.17"))
    report = check_target(target("gh200", "GH200", platform="linux/arm64"), packages,
                          torch_requires=TORCH_251_REQUIRES)
    assert report.ok, report.problems


def test_cpu_target_with_cuda_torch_is_a_warning() -> None:
    report = check_target(target("cpu", cuda=None), pypi_torch("2.5.1", "12.4.127"))
    assert report.ok and report.driver_floor is None and report.cuda_variant == "cu124"
    assert report.warnings == (
        'target "cpu": torch 2.5.1 is a cu124 build (nvidia-cuda-runtime-cu12 12.4.127) on a '
        "target without cuda; it runs on the CPU but pulls the CUDA runtime wheels. To slim the "
        f"environment, route torch to a CPU index ({ROUTE}).",)


def test_torch_release_without_data_warns_but_still_checks_first_cuda() -> None:
    report = check_target(target("h100", "H100", "B200", cuda="12.6"),
                          index_torch("2.10.0+cu126"))
    assert report.warnings == (
        'target "h100": envbuild has no data on the architectures compiled into torch '
        "2.10.0+cu126 (cu126, linux/amd64); the GPU check for H100 could not be done.",)
    assert report.problems == (
        'target "h100": GPU B200 (sm_100) needs a cuda 12.8 or newer build of torch; torch '
        f"2.10.0+cu126 resolved to a cu126 build. Fix: route torch to a cu128 index ({ROUTE}) "
        'or pin a torch release that ships cu128 builds and declare cuda = "12.8".',)
    assert any(row["row_id"] == "miss:torch-build:cu126:x86_64:2.10.0"
               for row in report.consulted)


def test_torch_whose_cuda_cannot_be_told_warns() -> None:
    packages = resolution(pkg("torch", "2.11.0", "nvidia-cudnn-cu13"))
    report = check_target(target("h100", "H100", cuda="13.0"), packages)
    assert report.ok and report.cuda_variant is None
    assert report.warnings == (
        'target "h100": could not tell which CUDA torch 2.11.0 was built for (NVIDIA dependencies '
        "but no CUDA runtime wheel resolved); the GPU checks could not be done.",)


def test_unknown_cuda_and_gpu() -> None:
    report = check_target(target("t", "H1000", cuda="12.7"), resolution())
    assert report.driver_floor is None and report.driver_floor_compat == "525.60.13"
    assert report.warnings == ('target "t": cuda 12.7 is not in envbuild\'s hardware data; no '
                               "driver floor is recorded.",)
    assert report.problems == ('target "t": unknown GPU "H1000"; did you mean "H100"?',)


def test_consulted_holds_only_what_the_checks_read() -> None:
    report = check_target(target("h100", "h100-sxm"), pypi_torch("2.5.1", "12.4.127"))
    ids = [row["row_id"] for row in report.consulted]
    assert ids == sorted(ids) == [
        "cuda-compat:12", "cuda:12.4", "gpu:H100", "runtime-wheel:cuda-cupti",
        "runtime-wheel:cuda-nvrtc", "runtime-wheel:cuda-runtime",
        "torch-build:cu124:x86_64:>=2.5,<2.6"]


def test_adding_an_unrelated_gpu_does_not_change_what_a_target_consulted() -> None:
    extra = {"name": "Z9", "compute_capability": "9.0", "first_cuda": "12.0", "slurm_gres": "z9",
             "aliases": ["Z9-SXM"], "source": "test", "confidence": "verified",
             "vocab_confidence": "verified"}
    before = check_target(target("h100", "H100", "L4"), pypi_torch("2.5.1", "12.4.127"))
    after = check_target(target("h100", "H100", "L4"), pypi_torch("2.5.1", "12.4.127"),
                         facts=facts_with(gpu=[extra]))
    assert after.consulted == before.consulted


def test_refuse_collects_every_problem_with_exit_code_2() -> None:
    bad = check_target(target("b200", "B200"), pypi_torch("2.5.1", "12.4.127"))
    good = check_target(target("h100", "H100"), pypi_torch("2.5.1", "12.4.127"))
    refuse([good])
    with pytest.raises(HardwareCompatError) as caught:
        refuse([good, bad])
    assert caught.value.message == bad.problems[0]
    assert caught.value.exit_code == ExitCode.BAD_INPUT


# --- the fixes name only builds PyTorch publishes, one line per root cause ----------------------

TOOLKIT_WHEELS = (*sorted(("nvidia-cuda-cupti-cu12", "nvidia-cuda-nvrtc-cu12",
                           "nvidia-cuda-runtime-cu12")), "nvidia-nvjitlink-cu12", "nvidia-nvtx-cu12")


def pypi_torch_251() -> dict[str, ResolvedPackage]:
    """PyPI's x86_64 torch 2.5.1 as resolved: it pins five toolkit-versioned wheels at 12.4."""
    torch = pkg("torch", "2.5.1", *TOOLKIT_WHEELS, "nvidia-cudnn-cu12", "filelock")
    return resolution(torch, *(pkg(n, "12.4.127") for n in TOOLKIT_WHEELS),
                      pkg("nvidia-cudnn-cu12", "9.1.0.70"), pkg("filelock", "3.16.1"))


def test_cuda_11_8_with_pypi_torch_is_one_line_routing_to_the_cu118_build() -> None:
    report = check_target(target("t", "A100", cuda="11.8"), pypi_torch_251())
    assert report.problems == (
        'target "t": torch 2.5.1 is a cu124 build (nvidia-cuda-runtime-cu12 12.4.127), but the '
        "target declares cuda 11.8; the CUDA 12.4 runtime wheels it pulls (nvidia-cuda-cupti-cu12, "
        "nvidia-cuda-nvrtc-cu12, nvidia-cuda-runtime-cu12, nvidia-nvjitlink-cu12, "
        f"nvidia-nvtx-cu12) come with it. Fix: route torch to a cu118 index ({ROUTE}) or declare "
        'cuda = "12.4".',)


def test_cuda_12_6_with_torch_2_5_1_names_the_builds_that_exist() -> None:
    # torch 2.5.1 was published for cu118, cu121 and cu124 only; cu126 came with 2.6.
    report = check_target(target("t", "H100", cuda="12.6"), pypi_torch_251())
    assert report.problems == (
        'target "t": torch 2.5.1 is a cu124 build (nvidia-cuda-runtime-cu12 12.4.127), but the '
        "target declares cuda 12.6; the CUDA 12.4 runtime wheels it pulls (nvidia-cuda-cupti-cu12, "
        "nvidia-cuda-nvrtc-cu12, nvidia-cuda-runtime-cu12, nvidia-nvjitlink-cu12, "
        "nvidia-nvtx-cu12) come with it. Fix: torch 2.5.1 has no "
        'cu126 build: declare cuda = "12.4" (its cu124 build), or pin torch>=2.6 (the first '
        f"release with cu126 builds) and route it to a cu126 index ({ROUTE}).",)


def test_cuda_12_6_with_a_cu121_build_suggests_the_nearest_published_build() -> None:
    report = check_target(target("t", "H100", cuda="12.6"), index_torch("2.5.1+cu121"))
    assert report.problems == (
        'target "t": torch 2.5.1+cu121 is a cu121 build (local version +cu121), but the target '
        "declares cuda 12.6. Fix: torch 2.5.1 has no cu126 build: route torch to a cu124 "
        f'index ({ROUTE}) and declare cuda = "12.4", or pin torch>=2.6 (the first release with '
        "cu126 builds) and route it to a cu126 index.",)


def test_b200_with_cuda_12_8_and_torch_2_5_1_is_one_line() -> None:
    report = check_target(target("b200", "B200", cuda="12.8"), pypi_torch_251())
    assert report.problems == (
        'target "b200": torch 2.5.1 is a cu124 build (nvidia-cuda-runtime-cu12 12.4.127), but the '
        "target declares cuda 12.8 and GPU B200 (sm_100) needs a cuda 12.8 or newer build; the "
        "CUDA 12.4 runtime wheels it pulls (nvidia-cuda-cupti-cu12, nvidia-cuda-nvrtc-cu12, "
        "nvidia-cuda-runtime-cu12, nvidia-nvjitlink-cu12, nvidia-nvtx-cu12) come with it. Fix: "
        "torch 2.5.1 has no cu128 build: pin torch>=2.7 (the first release with cu128 builds) and "
        f"route it to a cu128 index ({ROUTE}).",)


def test_a_dropped_build_points_to_the_last_releases_that_have_it() -> None:
    report = check_target(target("t", "A100", cuda="11.8"), index_torch("2.8.0+cu126"))
    assert report.problems == (
        'target "t": torch 2.8.0+cu126 is a cu126 build (local version +cu126), but the target '
        'declares cuda 11.8. Fix: torch 2.8.0 has no cu118 build: declare cuda = "12.6" '
        "(its cu126 build), or pin torch<2.8 (the last releases with cu118 builds) and route it "
        f"to a cu118 index ({ROUTE}).",)


def test_runtime_wheels_of_one_toolkit_are_one_line_naming_who_pulls_them() -> None:
    plugin = pkg("jax-cuda12-plugin", "0.4.35", "nvidia-cuda-runtime-cu12",
                 "nvidia-cuda-nvrtc-cu12", "nvidia-cusolver-cu12")
    packages = resolution(plugin, pkg("nvidia-cuda-runtime-cu12", "12.1.105"),
                          pkg("nvidia-cuda-nvrtc-cu12", "12.1.105"),
                          pkg("nvidia-cusolver-cu12", "11.4.5.107", "nvidia-nvjitlink-cu12"),
                          pkg("nvidia-nvjitlink-cu12", "12.1.105"))
    report = check_target(target("jax", "H100"), packages)
    assert report.problems == (
        'target "jax": nvidia-cuda-nvrtc-cu12 12.1.105, nvidia-cuda-runtime-cu12 12.1.105 (pulled '
        "in by jax-cuda12-plugin) carry CUDA 12.1, but the target declares cuda 12.4 (they must "
        'match major.minor). Fix: pin them to 12.4 releases or declare cuda = "12.1".',
        'target "jax": nvidia-nvjitlink-cu12 12.1.105 (pulled in by jax-cuda12-plugin) carries '
        "CUDA 12.1, but the target declares cuda 12.4 (it must be 12.4 or a newer 12.x). Fix: pin "
        'nvidia-nvjitlink-cu12 to a 12.4 or newer 12.x release or declare cuda = "12.1".')


def test_another_majors_wheels_are_never_told_to_take_this_majors_version() -> None:
    # cu12 wheels on an 11.8 target: no nvidia-*-cu12 release is an 11.x one.
    plugin = pkg("jax-cuda12-plugin", "0.4.35", "nvidia-nvjitlink-cu12", "nvidia-nvtx-cu12")
    packages = resolution(plugin, pkg("nvidia-nvjitlink-cu12", "12.4.127"),
                          pkg("nvidia-nvtx-cu12", "12.4.127"))
    report = check_target(target("t", "A100", cuda="11.8"), packages)
    assert report.problems == (
        'target "t": nvidia-nvjitlink-cu12 12.4.127, nvidia-nvtx-cu12 12.4.127 (pulled in by '
        "jax-cuda12-plugin) carry CUDA 12.4, but the target declares cuda 11.8 (they must match "
        "major.minor). Fix: use CUDA 11 builds of jax-cuda12-plugin or declare cuda = \"12.4\".",)


def test_a_cuda_envbuild_cannot_declare_is_never_offered() -> None:
    # A release with a cu127 build: 12.7 has no driver floor in the data, so it cannot be
    # declared, and the nearest build offered is cu124.
    future = {"torch": ">=3.0,<3.1", "arch": "x86_64", "variants": ["cpu", "cu124", "cu127"],
              "source": "test", "confidence": "verified"}
    report = check_target(target("t", "H100", cuda="12.8"), index_torch("3.0.0+cu124"),
                          facts=facts_with(torch_variants=[future]))
    assert report.problems == (
        'target "t": torch 3.0.0+cu124 is a cu124 build (local version +cu124), but the target '
        'declares cuda 12.8. Fix: torch 3.0.0 has no cu128 build: declare cuda = "12.4" (its '
        "cu124 build), or pin torch<2.10 (the last releases with cu128 builds) and route it to a "
        f"cu128 index ({ROUTE}).",)
