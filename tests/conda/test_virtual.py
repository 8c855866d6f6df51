"""The virtual packages a target offers the conda solver."""

from __future__ import annotations

from envbuild.conda.virtual import subdir, virtual_packages


def _plain(platform: str, cuda: str | None, glibc: str = "2.28") -> list[tuple[str, str, str]]:
    return [(v.name, v.version, v.build) for v in virtual_packages(platform=platform, cuda=cuda, glibc=glibc)]


def test_a_cuda_target_offers_its_cuda_and_glibc_floor() -> None:
    assert _plain("linux/amd64", "12.4", "2.31") == [
        ("__archspec", "1", "x86_64"), ("__cuda", "12.4", "0"), ("__glibc", "2.31", "0"),
        ("__linux", "4.18", "0"), ("__unix", "0", "0")]


def test_a_cpu_target_offers_no_cuda() -> None:
    assert _plain("linux/arm64", None) == [
        ("__archspec", "1", "aarch64"), ("__glibc", "2.28", "0"), ("__linux", "4.18", "0"), ("__unix", "0", "0")]


def test_macos_targets_offer_osx_and_no_glibc() -> None:
    assert _plain("darwin/arm64", None) == [("__archspec", "1", "arm64"), ("__osx", "11.0", "0"), ("__unix", "0", "0")]
    assert _plain("darwin/amd64", None)[1] == ("__osx", "10.13", "0")


def test_each_platform_has_its_conda_subdir() -> None:
    assert [subdir(p) for p in ("linux/amd64", "linux/arm64", "darwin/arm64", "darwin/amd64")] == [
        "linux-64", "linux-aarch64", "osx-arm64", "osx-64"]
