"""Every image base is pinned per target at lock time: its manifest digest for the target's
platform, in the target's table (so in its hash); `lock --check` sees a layout that changed."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path
from typing import Any

from tests.conftest import LocalIndex
from tests.helpers import run_cli
from tests.support.bases import tiny_archive, tiny_base


def write(folder: Path, body: str) -> Path:
    manifest = folder / "envbuild.toml"
    manifest.write_text('[project]\nname = "demo"\npython = "3.11"\n[dependencies]\npython = ["alpha"]\n'
                        + body)
    return manifest


def targets(folder: Path) -> dict[str, Any]:
    return dict(tomllib.loads((folder / "envbuild.lock").read_text())["targets"])


def pin(folder: Path, name: str) -> tuple[str | None, str | None]:
    table = targets(folder)[name]
    return table.get("base"), table.get("base-digest")


def test_an_oci_base_is_pinned_and_a_rebuilt_layout_makes_the_lock_stale(
        eb_env: dict[str, str], tmp_path: Path, local_index: LocalIndex) -> None:
    first = tiny_base(tmp_path / "base", marker="1")["amd64"]
    manifest = write(tmp_path, '[targets.cpu]\nplatform = "linux/amd64"\n[image]\nbase = "oci:base"\n')
    assert run_cli(["lock", "-f", str(manifest)]).code == 0
    assert pin(tmp_path, "cpu") == ("oci:base", first)
    before = targets(tmp_path)["cpu"]
    assert run_cli(["lock", "--check", "-f", str(manifest)]).code == 0

    shutil.rmtree(tmp_path / "base")
    second = tiny_base(tmp_path / "base", marker="2")["amd64"]
    assert second != first
    check = run_cli(["lock", "--check", "-f", str(manifest)])
    assert check.code == 1
    assert (f'target "cpu": base oci:base changed: the lock pins {first}, it now holds {second} '
            "for linux/amd64") in check.err

    # Only the base moved: `lock` records the new pin without resolving the packages again.
    local_index.clear_log()
    assert run_cli(["lock", "-f", str(manifest)]).code == 0
    after = targets(tmp_path)["cpu"]
    assert (after["base"], after["base-digest"]) == ("oci:base", second)
    assert after["packages"] == before["packages"] and after["hash"] != before["hash"]
    assert local_index.log == []
    assert run_cli(["lock", "--check", "-f", str(manifest)]).code == 0


def test_a_table_gives_each_platform_its_base_and_a_target_may_name_its_own(
        eb_env: dict[str, str], tmp_path: Path) -> None:
    amd = tiny_base(tmp_path / "amd", architectures=("amd64",))["amd64"]
    arm = tiny_base(tmp_path / "arm", architectures=("arm64",))["arm64"]
    own = tiny_base(tmp_path / "own", architectures=("amd64",), marker="own")["amd64"]
    manifest = write(tmp_path, '[targets.cpu]\nplatform = "linux/amd64"\n'
                               '[targets.dev]\nplatform = "linux/arm64"\n'
                               '[targets.special]\nplatform = "linux/amd64"\nbase = "oci:own"\n'
                               '[targets.mac]\nplatform = "darwin/arm64"\n'
                               '[image]\nbase = { "linux/amd64" = "oci:amd", "linux/arm64" = "oci:arm" }\n')
    result = run_cli(["lock", "-f", str(manifest)])
    assert result.code == 0, result.err
    assert pin(tmp_path, "cpu") == ("oci:amd", amd)
    assert pin(tmp_path, "dev") == ("oci:arm", arm)
    assert pin(tmp_path, "special") == ("oci:own", own)
    assert pin(tmp_path, "mac") == (None, None)  # images are Linux images

    # Another base for a target is a changed input, named as such.
    manifest.write_text(manifest.read_text().replace('base = "oci:own"', 'base = "oci:amd"'))
    check = run_cli(["lock", "--check", "-f", str(manifest)])
    assert check.code == 1
    assert 'target "special": base oci:own -> oci:amd' in check.err


def test_a_multi_platform_layout_gives_each_target_its_platforms_manifest(
        eb_env: dict[str, str], tmp_path: Path) -> None:
    digests = tiny_base(tmp_path / "multi", architectures=("amd64", "arm64"))
    manifest = write(tmp_path, '[targets.cpu]\nplatform = "linux/amd64"\n'
                               '[targets.dev]\nplatform = "linux/arm64"\n[image]\nbase = "oci:multi"\n')
    assert run_cli(["lock", "-f", str(manifest)]).code == 0
    assert pin(tmp_path, "cpu") == ("oci:multi", digests["amd64"])
    assert pin(tmp_path, "dev") == ("oci:multi", digests["arm64"])


def test_a_platform_the_base_table_leaves_out_is_refused_at_lock_time(
        eb_env: dict[str, str], tmp_path: Path) -> None:
    tiny_base(tmp_path / "amd")
    manifest = write(tmp_path, '[targets.cpu]\nplatform = "linux/amd64"\n'
                               '[targets.dev]\nplatform = "linux/arm64"\n'
                               '[image]\nbase = { "linux/amd64" = "oci:amd" }\n')
    result = run_cli(["lock", "-f", str(manifest)])
    assert result.code == 2
    assert result.err.splitlines() == [
        'error: target "dev" (linux/arm64): [image] base names no base for linux/arm64',
        'hint: add "linux/arm64" = "..." to [image] base, or give [targets.dev] a base of its own']
    assert not (tmp_path / "envbuild.lock").exists()


def test_a_single_platform_base_of_another_platform_is_refused_naming_both(
        eb_env: dict[str, str], tmp_path: Path) -> None:
    tiny_base(tmp_path / "amd")
    manifest = write(tmp_path, '[targets.dev]\nplatform = "linux/arm64"\n[image]\nbase = "oci:amd"\n')
    result = run_cli(["lock", "-f", str(manifest)])
    assert result.code == 2
    assert result.err.splitlines()[0] == (f'error: target "dev" (linux/arm64): base oci:{tmp_path / "amd"} '
                                          "is linux/amd64, the target is linux/arm64")


def test_a_base_table_with_an_unknown_platform_is_a_manifest_problem(tmp_path: Path) -> None:
    manifest = write(tmp_path, '[targets.cpu]\nplatform = "linux/amd64"\n'
                               '[image]\nbase = { "linux/amd65" = "oci:amd", "linux/amd64" = 3 }\n')
    result = run_cli(["lock", "-f", str(manifest)])
    assert result.code == 2
    assert result.err.splitlines()[1:3] == [
        'envbuild.toml:9: image.base."linux/amd64": must be a string',
        'envbuild.toml:9: image.base."linux/amd65": unknown platform "linux/amd65"; use one of: '
        "linux/amd64, linux/arm64, darwin/arm64, darwin/amd64"]


def test_a_docker_archive_base_is_pinned_by_image_id_and_a_new_save_makes_the_lock_stale(
        eb_env: dict[str, str], tmp_path: Path) -> None:
    first = tiny_archive(tmp_path / "base.tar", marker="1")
    manifest = write(tmp_path, '[targets.cpu]\nplatform = "linux/amd64"\n'
                               '[image]\nbase = "docker-archive:base.tar"\n')
    assert run_cli(["lock", "-f", str(manifest)]).code == 0
    assert pin(tmp_path, "cpu") == ("docker-archive:base.tar", first)
    assert run_cli(["lock", "--check", "-f", str(manifest)]).code == 0
    second = tiny_archive(tmp_path / "base.tar", marker="2")
    check = run_cli(["lock", "--check", "-f", str(manifest)])
    assert check.code == 1
    assert (f'target "cpu": base docker-archive:base.tar changed: the lock pins {first}, it now holds '
            f"{second} for linux/amd64") in check.err
