"""Images with conda packages: the native builder links the locked conda set into
/opt/conda under the wheels, the same lock giving the same bytes, tampered files refused,
and (with the engine) the image's conda Python runs the wheels and verifies itself."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import shutil
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from envbuild.canonical import digest
from envbuild.errors import InputError
from envbuild.image.builders import get_builder
from envbuild.image.builders.interface import BuildRequest, BuildResult
from envbuild.image.conda.fetch import CondaMismatch
from envbuild.image.load import load_images
from envbuild.image.settings import load_image_settings
from envbuild.image.store import Store
from envbuild.image.wheels import MissingOffline
from envbuild.lockfile import Artifact, LockedPackage, LockedTarget
from envbuild.lockfile.model import CondaPackage, Lock
from envbuild.runtime import proof
from tests.image.conda.archives import locked, venv_python
from tests.image.project import ALPHA
from tests.image.services import base_layout, docker_client
from tests.support.conda_channel import CondaChannel, CondaFile, CondaSpec
from tests.support.indexserver import IndexServer
from tests.support.locks import make_lock
from tests.support.wheelfactory import build_wheel

TOOL = CondaSpec(name="tool", version="2.1", build="h1_0", files=(
    CondaFile("bin/conda-tool", "#!/bin/sh\necho conda tool ran\n", executable=True),))


@dataclass
class Setup:
    folder: Path
    channel: CondaChannel
    channel_url: str
    server: IndexServer
    conda: tuple[CondaPackage, ...]
    alpha: LockedPackage
    offline: bool = False
    declared: tuple[str, ...] = ("local", "forge")  # the indexes the manifest declares

    def lock(self, base: tuple[str, str] | None = None) -> Lock:
        target = LockedTarget(
            name="cpu", hash="", input_hash=digest("cpu"), platform="linux/amd64",
            python="3.11", glibc="2.28", cuda=None, gpus=(), driver_floor=None,
            resolver="uv", requirements=(), hardware=(), packages=(self.alpha,),
            base=base[0] if base else None, base_digest=base[1] if base else None,
            conda=self.conda)
        return make_lock([target], name="condaimg", python="3.11",
                         indexes={"local": {"exclude-newer-exempt": False},
                                  "forge": {"exclude-newer-exempt": False}})

    def build(self, cache: Path, *, base: tuple[str, str] | None = None,
              output: Path | None = None, image: str = "") -> BuildResult:
        manifest = self.folder / "envbuild.toml"
        manifest.write_text("[project]\nname = \"condaimg\"\npython = \"3.11\"\n"
                            + (f'\n[image]\nbase = "{base[0]}"\n{image}' if base else ""))
        request = BuildRequest(
            lock=self.lock(base), targets=("cpu",), settings=load_image_settings(manifest),
            project_dir=self.folder, output=output, offline=self.offline, store=Store(cache),
            urls={name: url for name, url in (("local", self.server.simple_url("local")),
                                              ("forge", self.channel_url))
                  if name in self.declared},
            epoch=0, progress=lambda _: None, bases={"cpu": base[0] if base else None})
        return get_builder().build(request)


@pytest.fixture
def setup(tmp_path: Path, index_server: IndexServer) -> Iterator[Setup]:
    channel = CondaChannel(tmp_path / "channel")
    conda = tuple(locked(channel.add(spec), spec) for spec in (venv_python(), TOOL))
    channel.index()
    wheel = build_wheel(ALPHA, tmp_path / "wheels")
    index_server.add_file("local", wheel)
    alpha = LockedPackage(name="alpha", version="1.0", index="local", dependencies=(),
                          artifact=Artifact(kind="wheel", file=wheel.name, size=wheel.stat().st_size,
                                            hash="sha256:" + hashlib.sha256(wheel.read_bytes()).hexdigest()))
    folder = tmp_path / "proj"
    folder.mkdir()
    with channel.serve() as url:
        yield Setup(folder=folder, channel=channel, channel_url=url, server=index_server,
                    conda=conda, alpha=alpha)


def layer_members(cache: Path, layer_digest: str) -> dict[str, tarfile.TarInfo]:
    blob = cache / "blobs/sha256" / layer_digest.split(":")[1]
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob.read_bytes()))) as tar:
        return {m.name: m for m in tar.getmembers()}


def member_text(cache: Path, layer_digest: str, name: str) -> str:
    blob = cache / "blobs/sha256" / layer_digest.split(":")[1]
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob.read_bytes()))) as tar:
        handle = tar.extractfile(name)
        assert handle is not None
        return handle.read().decode()


def test_conda_layer_under_the_wheels_into_the_conda_python(setup: Setup, tmp_path: Path) -> None:
    result = setup.build(tmp_path / "cache")
    image = result.targets["cpu"]
    assert [layer.name for layer in image.layers] == [
        "conda packages", "1 packages", "envbuild runtime and lock"]
    conda_layer = layer_members(tmp_path / "cache", image.layers[0].digest)
    assert {"opt/conda/bin/python3.11", "opt/conda/bin/conda-tool",
            "opt/conda/conda-meta/python-3.11.2-0.json",
            "opt/conda/conda-meta/tool-2.1-h1_0.json"} <= set(conda_layer)
    assert {m.mtime for m in conda_layer.values()} == {0}
    assert all(name.startswith("opt") for name in conda_layer)
    wheels = layer_members(tmp_path / "cache", image.layers[1].digest)
    assert "opt/conda/lib/python3.11/site-packages/alpha/__init__.py" in wheels
    # The console script runs the conda python.
    assert member_text(tmp_path / "cache", image.layers[1].digest,
                       "opt/conda/bin/alpha").startswith("#!/opt/conda/bin/python3.11\n")
    document = json.loads(image.entry.config)
    env = dict(item.split("=", 1) for item in document["config"]["Env"])
    assert env["PATH"] == "/opt/conda/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert env["CONDA_PREFIX"] == "/opt/conda"
    assert "PYTHONPATH" not in env
    assert document["config"]["Labels"]["org.envbuild.python"] == "/opt/conda/bin/python3.11"


def test_same_lock_same_image_from_a_fresh_cache(setup: Setup, tmp_path: Path) -> None:
    first = setup.build(tmp_path / "one").targets["cpu"]
    second = setup.build(tmp_path / "two").targets["cpu"]
    assert (second.digest, second.layers[0].diff_id) == (first.digest, first.layers[0].diff_id)
    # A rebuild on the same cache reuses the conda layer without fetching a package.
    again = setup.build(tmp_path / "one").targets["cpu"]
    assert again.layers[0].reused and again.digest == first.digest


def test_tampered_package_bytes_are_refused_naming_the_package(setup: Setup,
                                                               tmp_path: Path) -> None:
    served = setup.channel.files["tool-2.1-h1_0.conda"]
    served.write_bytes(served.read_bytes() + b"\0")
    tool = next(p for p in setup.conda if p.name == "tool")
    with pytest.raises(CondaMismatch) as caught:
        setup.build(tmp_path / "cache", output=tmp_path / "layout")
    actual = "sha256:" + hashlib.sha256(served.read_bytes()).hexdigest()
    assert caught.value.exit_code == 1
    assert caught.value.message == (
        "1 conda package(s) differ from the lock:\n"
        f"tool: tool-2.1-h1_0.conda: expected {tool.hash} ({tool.size} bytes), "
        f"got {actual} ({tool.size + 1} bytes)")
    assert not (tmp_path / "layout").exists()
    assert not list((tmp_path / "cache" / "conda").rglob("tool-*"))


def test_a_channel_the_manifest_no_longer_declares_is_refused(setup: Setup,
                                                             tmp_path: Path) -> None:
    setup.declared = ("local",)
    with pytest.raises(InputError) as caught:
        setup.build(tmp_path / "cache")
    assert caught.value.message == ('python: the lock names index "forge", which the manifest '
                                    "does not declare")


def test_a_wrong_md5_is_refused(setup: Setup, tmp_path: Path) -> None:
    tool = next(p for p in setup.conda if p.name == "tool")
    setup.conda = tuple(dataclasses.replace(p, md5="0" * 32) if p is tool else p
                        for p in setup.conda)
    with pytest.raises(CondaMismatch) as caught:
        setup.build(tmp_path / "cache")
    assert caught.value.message == ("1 conda package(s) differ from the lock:\n"
                                    f"tool: tool-2.1-h1_0.conda: expected md5 {'0' * 32}, "
                                    f"got md5 {tool.md5}")


def test_offline_without_the_packages_in_the_cache_is_refused(setup: Setup,
                                                               tmp_path: Path) -> None:
    setup.build(tmp_path / "warm")  # fills that cache only
    shutil.copytree(tmp_path / "warm/wheels", tmp_path / "cold/wheels")  # the wheel is there
    setup.offline = True
    with pytest.raises(MissingOffline) as caught:
        setup.build(tmp_path / "cold")
    assert caught.value.exit_code == 3
    assert caught.value.message.splitlines()[0] == (
        f"--offline: 2 conda package(s) are not in the cache {tmp_path / 'cold'}:")
    assert setup.build(tmp_path / "warm").targets["cpu"].layers[0].reused


def test_a_conda_python_of_another_minor_than_the_target_is_refused(setup: Setup,
                                                                   tmp_path: Path) -> None:
    setup.conda = tuple(dataclasses.replace(p, version="3.12.1") if p.name == "python" else p
                        for p in setup.conda)
    with pytest.raises(InputError) as caught:
        setup.build(tmp_path / "cache")
    assert (caught.value.message, caught.value.hint) == (
        'target "cpu" is locked for Python 3.11 but its conda packages hold python 3.12.1',
        "re-lock: the conda python and the target's Python must agree")


def pinned_base() -> tuple[str, str]:
    from envbuild.image.base import locate_layout

    reference = f"oci:{base_layout()}"  # Debian bookworm with python3 (scripts/make-base)
    return reference, locate_layout(reference, "linux", "amd64")[1]


@pytest.mark.parametrize("entrypoint", [
    '["conda-tool"]', '["python", "-m", "conda_python_marker"]'])
def test_the_image_command_is_found_in_the_conda_packages(setup: Setup, tmp_path: Path,
                                                          entrypoint: str) -> None:
    # Neither is in the base: only the conda packages' files (read from the cached
    # archives) have them.
    result = setup.build(tmp_path / "cache", base=pinned_base(),
                         image=f"entrypoint = {entrypoint}\n")
    assert result.targets["cpu"].layers[-3].name == "conda packages"


def test_an_image_command_no_package_has_is_refused(setup: Setup, tmp_path: Path) -> None:
    from envbuild.image.entrypoint import CommandNotFound

    with pytest.raises(CommandNotFound) as caught:
        setup.build(tmp_path / "cache", base=pinned_base(), image='entrypoint = ["conda-toool"]\n')
    assert caught.value.exit_code == 2
    assert caught.value.message == ('target "cpu": entrypoint program "conda-toool" not found '
                                    "on the image's PATH=/opt/conda/bin:/usr/local/sbin:"
                                    "/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")


def target_json(lock: Lock, conda: tuple[CondaPackage, ...]) -> str:
    """The image's target table with its conda records, proved by its hash, as
    `verify --target-json` reads it."""
    from envbuild.lockfile.codec import target_table

    table = target_table(lock.targets["cpu"])
    table["conda"] = [{"name": p.name, "version": p.version, "build": p.build,
                       "subdir": p.subdir, "channel": p.channel, "file": p.file, "size": p.size,
                       "hash": p.hash, "md5": p.md5, "dependencies": list(p.dependencies)}
                      for p in conda]
    table["hash"] = proof.target_hash(table)
    return json.dumps({"target": "cpu", "table": table, "lock_hash": None, "datasets": {}})


@pytest.mark.docker
def test_the_image_runs_its_conda_python_offline_and_verifies(setup: Setup,
                                                              tmp_path: Path) -> None:
    import shlex

    client: Any = docker_client()
    base = pinned_base()
    store = Store(tmp_path / "cache")
    result = setup.build(tmp_path / "cache", base=base)
    tag = f"envbuild-test/conda:{uuid.uuid4().hex[:12]}"
    load_images([(tag, result.targets["cpu"])], store)

    def run(command: str) -> tuple[int, str]:
        container = client.containers.run(tag, ["sh", "-c", command], network_mode="none",
                                          detach=True)
        try:
            code = container.wait()["StatusCode"]
            return code, container.logs().decode()
        finally:
            container.remove(force=True)

    try:
        script = ("import alpha, conda_python_marker as m, sys; "
                  "print(sys.executable, sys.prefix, m.PREFIX, alpha.__file__)")
        assert run(f"python3 -c {shlex.quote(script)} && conda-tool") == (0, (
            "/opt/conda/bin/python3.11 /opt/conda /opt/conda "
            "/opt/conda/lib/python3.11/site-packages/alpha/__init__.py\nconda tool ran\n"))
        document = target_json(setup.lock(base), setup.conda)
        verify = ("python3 /opt/envbuild/runtime verify --no-hardware --deep --target-json - "
                  f"<<'EOF'\n{document}\nEOF\n")
        code, out = run(verify)
        target_hash = json.loads(document)["table"]["hash"]
        assert (code, out.splitlines()[-1]) == (0, f"verified: target cpu ({target_hash})"), out
        code, out = run("rm /opt/conda/conda-meta/tool-2.1-h1_0.json\n" + verify)
        assert (code, out.splitlines()[-2:]) == (1, [
            "target cpu: 1 mismatch",
            "  conda-missing: tool: locked at 2.1 (h1_0), no record in /opt/conda/conda-meta"]), out
    finally:
        client.images.remove(tag, force=True)
