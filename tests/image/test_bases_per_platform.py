"""Each target is built on the base the lock pinned for it: one per platform, a target's own,
or Debian's arm64 base made without running arm64 code (scripts/make-base arm64)."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import tarfile
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_cli
from tests.image.project import ARM64, CPU, Project
from tests.image.test_build import blob
from tests.support.bases import tiny_archive, tiny_base

DEFAULT_ARM64_BASE = Path("/var/cache/envbuild-test/base/bookworm-minbase-python3-arm64-v1/oci")


def image_of(layout: Path, target: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(index entry, manifest, config) of a target's image in a layout."""
    index = json.loads((layout / "index.json").read_bytes())
    (entry,) = [m for m in index["manifests"]
                if m["annotations"]["org.opencontainers.image.ref.name"] == target]
    manifest = json.loads(blob(layout, entry["digest"]))
    return entry, manifest, json.loads(blob(layout, manifest["config"]["digest"]))


def base_layer(layout: Path) -> str:
    """The one layer of a one-image (or first image's) base layout."""
    index = json.loads((layout / "index.json").read_bytes())
    return str(json.loads(blob(layout, index["manifests"][0]["digest"]))["layers"][0]["digest"])


def pins(project: Project) -> dict[str, tuple[str, str]]:
    targets = tomllib.loads(project.lock.read_text())["targets"]
    return {name: (t["base"], t["base-digest"]) for name, t in targets.items() if "base" in t}


def test_each_platform_is_built_on_its_own_pinned_base(project: Project, tmp_path: Path) -> None:
    amd = tiny_base(project.folder / "amd", architectures=("amd64",))["amd64"]
    arm = tiny_base(project.folder / "arm", architectures=("arm64",))["arm64"]
    project.targets = {"cpu": CPU, "dev": ARM64}
    project.image = '\n[image]\nbase = { "linux/amd64" = "oci:amd", "linux/arm64" = "oci:arm" }\n'
    project.write()
    assert pins(project) == {"cpu": ("oci:amd", amd), "dev": ("oci:arm", arm)}
    out = tmp_path / "out"
    result = run_cli(["image", "-f", str(project.manifest), "--output", f"oci:{out}"])
    assert result.code == 0, result.err
    for target, arch, digest, folder in (("cpu", "amd64", amd, "amd"), ("dev", "arm64", arm, "arm")):
        entry, manifest, config = image_of(out, target)
        assert entry["platform"] == {"os": "linux", "architecture": arch}
        assert (config["os"], config["architecture"]) == ("linux", arch)
        assert config["config"]["Labels"]["org.opencontainers.image.base.digest"] == digest
        assert manifest["layers"][0]["digest"] == base_layer(project.folder / folder)


def test_a_base_rebuilt_since_locking_is_refused_and_nothing_is_written(project: Project,
                                                                         tmp_path: Path) -> None:
    first = tiny_base(project.folder / "base", marker="1")["amd64"]
    project.image = '\n[image]\nbase = "oci:base"\n'
    project.write()
    shutil.rmtree(project.folder / "base")
    second = tiny_base(project.folder / "base", marker="2")["amd64"]
    out = tmp_path / "out"
    result = run_cli(["image", "-f", str(project.manifest), "--output", f"oci:{out}"])
    assert result.code == 1
    assert result.err.splitlines()[0] == (
        f"error: base oci:{project.folder / 'base'} changed since locking: the lock pins {first}, "
        f"the layout now holds {second} for linux/amd64")
    assert not out.exists()


def test_a_lock_pinning_another_base_than_the_manifest_names_is_refused(project: Project,
                                                                         tmp_path: Path) -> None:
    tiny_base(project.folder / "amd")
    tiny_base(project.folder / "own", marker="own")
    project.image = '\n[image]\nbase = "oci:amd"\n'
    project.write()
    project.manifest.write_text(project.manifest.read_text().replace(
        'platform = "linux/amd64"', 'platform = "linux/amd64"\nbase = "oci:own"'))
    result = run_cli(["image", "-f", str(project.manifest), "--output", f"oci:{tmp_path / 'out'}"])
    assert result.code == 1
    assert result.err.splitlines() == [
        'error: target "cpu": the lock pins base oci:amd, the manifest names oci:own',
        "hint: run `envbuild lock`: it resolves the base and records its digest"]


def test_debian_arm64_base_gives_an_arm64_image(project: Project, tmp_path: Path) -> None:
    """The base scripts/make-base arm64 unpacks (no arm64 code runs, here or in the test):
    the image is arm64, its Python and C library are found in the base, and the aarch64
    wheels land in Debian's site directory."""
    layout = Path(os.environ.get("ENVBUILD_TEST_BASE_ARM64") or DEFAULT_ARM64_BASE)
    if not (layout / "index.json").is_file():
        pytest.skip(f"no arm64 base layout at {layout}: run scripts/make-base arm64")
    project.targets = {"dev": ARM64}
    project.image = f'\n[image]\nbase = "oci:{layout}"\n'
    project.write()
    pinned = json.loads((layout / "index.json").read_bytes())["manifests"][0]["digest"]
    assert pins(project) == {"dev": (f"oci:{layout}", pinned)}
    out = tmp_path / "out"
    result = run_cli(["image", "-f", str(project.manifest), "--output", f"oci:{out}"])
    assert result.code == 0, result.err
    assert "no GNU C library version found" not in result.err
    entry, manifest, config = image_of(out, "dev")
    assert entry["platform"] == {"os": "linux", "architecture": "arm64"}
    assert config["architecture"] == "arm64"
    labels = config["config"]["Labels"]
    assert labels["org.envbuild.python"] == "/usr/bin/python3.11"
    assert labels["org.opencontainers.image.base.digest"] == pinned
    assert manifest["layers"][0]["digest"] == base_layer(layout)
    names: set[str] = set()
    for layer in manifest["layers"][1:]:
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob(out, layer["digest"])))) as tar:
            names |= set(tar.getnames())
    assert "usr/local/lib/python3.11/dist-packages/fastmath/_core.cpython-311-aarch64-linux-gnu.so" in names


def _diff_ids(archive: Path) -> list[str]:
    with tarfile.open(archive) as tar:
        (entry,) = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        config = json.loads(tar.extractfile(entry["Config"]).read())  # type: ignore[union-attr]
    return list(config["rootfs"]["diff_ids"])


def test_a_docker_archive_base_is_built_on_as_pinned(project: Project, tmp_path: Path) -> None:
    tiny_archive(project.folder / "base.tar", marker="1")
    project.image = '\n[image]\nbase = "docker-archive:base.tar"\n'
    project.write()
    out = tmp_path / "out"
    result = run_cli(["image", "-f", str(project.manifest), "--output", f"oci:{out}"])
    assert result.code == 0, result.err
    _, _, config = image_of(out, "cpu")
    assert config["rootfs"]["diff_ids"][0] == _diff_ids(project.folder / "base.tar")[0]
    assert config["config"]["Labels"]["org.envbuild.python"] == "/usr/bin/python3.11"

    # Saved again with other content: the build refuses it, as for a layout.
    second = tiny_archive(project.folder / "base.tar", marker="2")
    pinned = pins(project)["cpu"][1]
    again = run_cli(["image", "-f", str(project.manifest), "--output", f"oci:{tmp_path / 'again'}"])
    assert again.code == 1
    assert again.err.splitlines()[0] == (
        f"error: base docker-archive:{project.folder / 'base.tar'} changed since locking: the lock "
        f"pins {pinned}, the archive now holds {second}")
    assert not (tmp_path / "again").exists()


def test_a_docker_save_of_the_engine_is_a_base(project: Project, tmp_path: Path) -> None:
    """What the test engine's own `docker save` writes is read as `envbuild lock` pins it."""
    from tests.image.services import docker_client

    client: Any = docker_client()
    tiny_archive(tmp_path / "made.tar", marker="engine")
    (image,) = client.images.load((tmp_path / "made.tar").read_bytes())
    saved = project.folder / "saved.tar"
    try:
        with saved.open("wb") as handle:
            for chunk in image.save(named=True):
                handle.write(chunk)
    finally:
        client.images.remove(image.id, force=True)
    project.image = '\n[image]\nbase = "docker-archive:saved.tar"\n'
    project.write()
    assert pins(project) == {"cpu": ("docker-archive:saved.tar", image.id)}
    out = tmp_path / "out"
    result = run_cli(["image", "-f", str(project.manifest), "--output", f"oci:{out}"])
    assert result.code == 0, result.err
    _, _, config = image_of(out, "cpu")
    assert config["rootfs"]["diff_ids"][0] == _diff_ids(saved)[0]
