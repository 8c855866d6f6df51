"""The `docker` builder and `export --format dockerfile`, against the real test engine,
registry and base layout (tests/image/services.py skips without them)."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from envbuild.lockfile import load
from tests.helpers import run_cli
from tests.image.project import ALPHA, ARM64, CPU, Project
from tests.image.services import base_layout, docker_client, pushed_base, registry_address


@pytest.fixture
def engine() -> Iterator[Any]:
    """The test engine's client, closed after the test (a leaked socket fails a later one)."""
    client: Any = docker_client()
    yield client
    client.close()


def use_base(project: Project, extra: str = "") -> Path:
    base = base_layout()
    project.image = f'\n[image]\nbase = "oci:{base}"\n{extra}'
    project.write()
    return base


def wheel_name(project: Project, name: str) -> str:
    return next(p.artifact.file for p in load(project.lock).targets["cpu"].packages
                if p.name == name)


def base_id(layout: Path) -> str:
    def blob(digest: str) -> bytes:
        return (layout / "blobs/sha256" / digest.split(":")[1]).read_bytes()

    index = json.loads((layout / "index.json").read_bytes())
    return str(json.loads(blob(index["manifests"][0]["digest"]))["config"]["digest"])


def base_layers(layout: Path) -> list[str]:
    index = json.loads((layout / "index.json").read_bytes())
    digest = index["manifests"][0]["digest"].split(":")[1]
    return [x["digest"] for x in json.loads(
        (layout / "blobs/sha256" / digest).read_bytes())["layers"]]


def export(project: Project, out: Path) -> Any:
    result = run_cli(["export", "-f", str(project.manifest), "--target", "cpu",
                      "--format", "dockerfile", "-o", str(out), "--json"])
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_export_writes_a_context_pinned_by_digest(project: Project, tmp_path: Path) -> None:
    (project.folder / "src/app").mkdir(parents=True)
    (project.folder / "src/app/__main__.py").write_text("print('hi')\n")
    base = use_base(project, 'copy = ["src/"]\nentrypoint = ["python3", "-m", "app"]\n')
    out = tmp_path / "ctx"
    document = export(project, out)
    dockerfile = (out / "Dockerfile").read_text()
    # A layout base has no repository: FROM names its image ID, its config's digest.
    assert re.findall(r"^FROM (.+)$", dockerfile, re.M) == [f"{base_id(base)} AS install",
                                                            base_id(base)]
    target = load(project.lock).targets["cpu"]
    wheels = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
              for p in (out / "wheels").iterdir()}
    assert wheels == {p.artifact.file: p.artifact.hash.split(":")[1] for p in target.packages}
    requirements = (out / "requirements.txt").read_text()
    for p in target.packages:
        assert f"{p.name}=={p.version} \\\n    --hash={p.artifact.hash}\n" in requirements
    assert ("pip install --require-hashes --no-deps --no-index --find-links "
            "/tmp/envbuild/wheels") in dockerfile
    assert (out / "payload/opt/envbuild/envbuild.lock").is_file()
    assert (out / "payload/opt/envbuild/runtime/__main__.py").is_file()
    assert (out / "project/workspace/src/app/__main__.py").read_text() == "print('hi')\n"
    assert 'ENTRYPOINT ["python3", "-m", "app"]' in dockerfile
    assert f'"org.envbuild.image-hash"="{document["image_hash"]}"' in dockerfile
    assert dockerfile.splitlines()[1:7] == [
        "# Build offline, with the classic builder (BuildKit reads FROM sha256:<ID> as a",
        "# repository name): DOCKER_BUILDKIT=0 docker build --network none DIR",
        f"# The base must be in the engine first, as {base_id(base)[:19]}...:",
        "# docker load -i DIR/base.tar (what envbuild export writes beside this file;",
        "# .dockerignore keeps it out of the build), or envbuild image --builder docker",
        "# (loads it, then builds)."]
    assert (out / ".dockerignore").read_text() == "base.tar\n"
    with tarfile.open(out / "base.tar") as tar:
        member = tar.extractfile("manifest.json")
        assert member is not None
        (entry,) = json.loads(member.read())
    assert entry["Config"] == f"{base_id(base)[7:]}.json"
    assert entry["Layers"] == [f"{d[7:]}/layer.tar" for d in base_layers(base)]


@pytest.mark.docker
def test_the_exported_base_archive_loads_as_the_image_from_names(
        project: Project, tmp_path: Path, engine: Any) -> None:
    base = use_base(project)
    export(project, tmp_path / "ctx")
    with (tmp_path / "ctx/base.tar").open("rb") as handle:
        assert [image.id for image in engine.images.load(handle)] == [base_id(base)]


def build(project: Project, *extra: str) -> Any:
    result = run_cli(["image", "-f", str(project.manifest), "--builder", "docker", *extra,
                      "--json"])
    assert result.code == 0, result.err
    return json.loads(result.out)


@pytest.mark.docker
@pytest.mark.registry
def test_docker_build_verifies_in_the_engine_and_pushes(project: Project, tmp_path: Path,
                                                        engine: Any) -> None:
    client = engine
    address = registry_address()
    use_base(project)
    repository = f"{address}/test/docker-{uuid.uuid4().hex[:8]}"
    out = tmp_path / "layout"
    document = build(project, "--output", f"oci:{out}", "--push", repository, "--load")
    target = document["targets"]["cpu"]
    (pushed,) = document["pushed"]
    assert pushed["digest"] == target["digest"]
    assert [layer["name"] for layer in target["layers"]] == [
        "base layer 0", "3 packages (pip)", "envbuild runtime and lock", "working directory"]
    assert json.loads((out / "index.json").read_bytes())["manifests"][0]["digest"] == \
        target["digest"]
    image = client.images.get(target["config"])  # the engine's image is the one described
    labels = image.attrs["Config"]["Labels"]
    assert labels["org.envbuild.image-hash"] == target["image_hash"]
    assert pushed["reference"] == f"{repository}:lock-{target['image_hash'][7:19]}"
    verdict = client.containers.run(
        image.id, ["python3", "/opt/envbuild/runtime", "verify", "--no-hardware", "--deep",
                   "--json"], network_mode="none", remove=True).decode()
    assert json.loads(verdict)["ok"] is True, verdict
    pulled = client.images.pull(f"{repository}@{target['digest']}")
    assert pulled.id == image.id  # the registry holds the engine's image, byte for byte
    (tag,) = document["loaded"]  # --load hands the converted image back: the same ID
    assert client.images.get(tag).id == image.id
    client.images.remove(tag)


@pytest.mark.docker
@pytest.mark.registry
def test_rebuild_check_refuses_a_docker_built_image(project: Project, tmp_path: Path,
                                                    engine: Any) -> None:
    use_base(project)
    repository = f"{registry_address()}/test/docker-{uuid.uuid4().hex[:8]}"
    (pushed,) = build(project, "--push", repository)["pushed"]
    result = run_cli(["image", "rebuild-check", "-f", str(project.manifest),
                      pushed["reference"]])
    assert result.code == 2
    ref = f"{pushed['reference']}@{pushed['digest']}"
    assert result.err[result.err.index("error: "):] == (
        f"error: {ref} was built by envbuild's docker builder; rebuild-check reproduces only "
        "images of the native builder (--builder oci or nix), whose digest the lock and "
        "project decide\nhint: publish with `envbuild image` (--builder oci) to have an "
        "image rebuild-check can prove\n")


@pytest.mark.docker
def test_two_docker_builds_have_the_same_layers_not_the_same_id(project: Project,
                                                                tmp_path: Path,
                                                                engine: Any) -> None:
    """What the README says: without a cache, the engine gives every build a new config
    (created times), hence a new image ID and manifest digest; the layers it made are the
    same bytes, since pip's output and the context's files carry the build epoch."""
    client = engine
    (project.folder / "app.py").write_text("print('app')\n")
    use_base(project, 'copy = ["app.py"]\n')
    document = build(project, "--output", f"oci:{tmp_path / 'layout'}", "--load")
    first = document["targets"]["cpu"]
    context = tmp_path / "ctx"
    export(project, context)
    again, _ = client.images.build(path=str(context), network_mode="none", nocache=True,
                                   rm=True, forcerm=True)
    before = client.images.get(first["config"]).attrs
    assert again.id != first["config"]
    assert again.attrs["Created"] != before["Created"]
    assert again.attrs["RootFS"]["Layers"] == before["RootFS"]["Layers"]
    assert [layer["name"] for layer in first["layers"]] == [
        "base layer 0", "3 packages (pip)", "envbuild runtime and lock", "project files"]
    assert [x["diff_id"] for x in first["layers"]] == again.attrs["RootFS"]["Layers"]
    assert again.labels["org.envbuild.image-hash"] == first["image_hash"]
    client.images.remove(again.id)
    client.images.remove(document["loaded"][0])


def built_on(client: Any, base: str) -> set[str]:
    """Every image in the engine whose chain of parents reaches image `base`."""
    images = {i.id: i.attrs.get("Parent") or "" for i in client.images.list(all=True)}
    found, grown = {base}, True
    while grown:
        more = {i for i, parent in images.items() if parent in found} - found
        found |= more
        grown = bool(more)
    return found - {base}


@pytest.mark.docker
def test_a_docker_build_leaves_no_images_of_its_own(project: Project, tmp_path: Path,
                                                    engine: Any) -> None:
    """Without --load, neither the install stage nor the built image stays in the engine
    (a package no other build has makes every step new, so none is a cached one)."""
    from tests.support.wheelfactory import DistSpec

    fresh = DistSpec(name=f"fresh{uuid.uuid4().hex[:8]}", version="1.0")
    project.targets = {"cpu": {**CPU, "packages": [ALPHA, fresh]}}
    base = use_base(project)
    before = built_on(engine, base_id(base))
    target = build(project, "--output", f"oci:{tmp_path / 'layout'}")["targets"]["cpu"]
    from docker.errors import ImageNotFound  # type: ignore[import-untyped]

    with pytest.raises(ImageNotFound):
        engine.images.get(target["config"])
    assert built_on(engine, base_id(base)) - before == set()


@pytest.mark.docker
def test_an_arm64_target_is_refused_by_an_amd64_engine_before_anything_is_loaded(
        project: Project, tmp_path: Path, engine: Any) -> None:
    import os

    from docker.errors import ImageNotFound

    layout = Path(os.environ.get("ENVBUILD_TEST_BASE_ARM64") or "/nonexistent")
    if not (layout / "index.json").is_file():
        pytest.skip("no arm64 base layout: set ENVBUILD_TEST_BASE_ARM64 (scripts/make-base arm64)")
    if engine.version()["Arch"] != "amd64":
        pytest.skip("the test engine is not amd64")
    project.targets = {"dev": ARM64}
    project.image = f'\n[image]\nbase = "oci:{layout}"\n'
    project.write()
    result = run_cli(["image", "-f", str(project.manifest), "--builder", "docker",
                      "--output", f"oci:{tmp_path / 'layout'}"])
    assert result.code == 2
    assert result.err == (
        f'error: target "dev" is linux/arm64, the Docker engine at {os.environ["DOCKER_HOST"]} '
        "runs linux/amd64: the build's RUN step cannot run there\n"
        "hint: build it with --builder oci (it builds any platform without running it), or "
        "use an engine on linux/arm64\n")
    with pytest.raises(ImageNotFound):
        engine.images.get(base_id(layout))
    assert not (tmp_path / "layout").exists()


@pytest.mark.docker
@pytest.mark.registry
def test_a_registry_base_is_named_by_digest_and_pulled_into_the_engine(
        project: Project, tmp_path: Path, engine: Any) -> None:
    base = pushed_base(registry_address())  # ADDR/base/python:3.11@sha256:...
    project.image = f'\n[image]\nbase = "{base}"\n'
    project.write()
    name, _, digest = base.partition("@")
    document = export(project, tmp_path / "ctx")
    assert document["from"] == f"{name.rsplit(':', 1)[0]}@{digest}"
    dockerfile = (tmp_path / "ctx/Dockerfile").read_text()
    assert f"\nFROM {document['from']}\n" in dockerfile
    assert dockerfile.splitlines()[1:4] == [
        "# Build offline: docker build --network none DIR. The base must be in the",
        f"# engine first: docker pull {document['from']}",
        "# (envbuild image --builder docker pulls it, then builds)."]
    assert not (tmp_path / "ctx/base.tar").exists()
    built = build(project, "--output", f"oci:{tmp_path / 'layout'}")["targets"]["cpu"]
    assert built["image_hash"] == document["image_hash"]
    # The base's layers keep the base's blobs (a push mounts them, never re-sends them).
    assert [x["digest"] for x in built["layers"][:1]] == base_layers(base_layout())


def test_the_planned_hash_is_the_exported_contexts(project: Project, tmp_path: Path) -> None:
    from envbuild.image.build import build_request
    from envbuild.image.builders import get_builder

    use_base(project)
    document = export(project, tmp_path / "ctx")
    request = build_request(project.manifest, project.lock, "cpu", offline=True,
                            cache_dir=None, progress=lambda _: None)
    assert get_builder("docker").planned_hash(request, "cpu") == document["image_hash"]
    assert get_builder("oci").planned_hash(request, "cpu") != document["image_hash"]


def test_export_without_an_output_folder_is_refused(project: Project) -> None:
    use_base(project)
    result = run_cli(["export", "-f", str(project.manifest), "--format", "dockerfile"])
    assert result.code == 2
    assert result.err == "error: --format dockerfile writes a folder\nhint: give -o DIR\n"


def test_export_never_replaces_a_folder_that_is_not_a_context(project: Project,
                                                              tmp_path: Path) -> None:
    use_base(project)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    result = run_cli(["export", "-f", str(project.manifest), "--format", "dockerfile",
                      "-o", str(mine)])
    assert result.code == 2
    assert result.err == (f"error: {mine} exists and is not an envbuild build context; it is "
                          "not replaced\nhint: choose an empty or new folder for -o\n")
    assert (mine / "notes.txt").read_text() == "keep me"
    export(project, tmp_path / "ctx")  # an earlier context is replaced
    document = export(project, tmp_path / "ctx")
    assert sorted(p.name for p in (tmp_path / "ctx").iterdir()) == [
        ".dockerignore", ".envbuild-context", "Dockerfile", "base.tar", "envbuild", "payload",
        "project", "requirements.txt", "wheels"]
    assert document["packages"] == 3


def test_export_refuses_wheels_that_differ_from_the_lock(project: Project,
                                                         tmp_path: Path) -> None:
    use_base(project)
    project.write(tamper="beta")
    result = run_cli(["export", "-f", str(project.manifest), "--format", "dockerfile",
                      "-o", str(tmp_path / "ctx")])
    assert result.code == 1
    error = result.err[result.err.index("error: "):].splitlines()
    assert error[:2] == ["error: 1 wheel(s) differ from the lock:",
                         f"beta: {wheel_name(project, 'beta')}: expected " + error[1].split(
                             "expected ", 1)[1]]
    assert not (tmp_path / "ctx").exists()


def test_the_docker_builder_needs_a_base(project: Project, tmp_path: Path) -> None:
    result = run_cli(["image", "-f", str(project.manifest), "--builder", "docker",
                      "--output", f"oci:{tmp_path / 'layout'}"])
    assert result.code == 2
    assert result.err == ('error: target "cpu": the docker builder needs a base with Python\n'
                          "hint: set [image] base, or build with --builder oci\n")


def test_an_unreachable_engine_is_exit_3(project: Project,
                                         monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    use_base(project)
    with socket.socket() as probe:  # a port nothing listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{port}")
    result = run_cli(["image", "-f", str(project.manifest), "--builder", "docker",
                      "--output", f"oci:{tmp_path / 'layout'}"])
    assert result.code == 3
    assert result.err.startswith(
        f"error: cannot reach the Docker engine at tcp://127.0.0.1:{port}: Connection refused\n")
    assert result.err.endswith("hint: is it running? DOCKER_HOST names it\n")


@pytest.mark.docker
def test_a_failing_build_is_reported_with_its_log(project: Project, engine: Any,
                                                  tmp_path: Path) -> None:
    use_base(project, 'python = "/opt/none/python3.11"\n')
    result = run_cli(["image", "-f", str(project.manifest), "--builder", "docker",
                      "--output", f"oci:{tmp_path / 'layout'}"])
    assert result.code == 3
    assert result.err[result.err.index("error: "):].startswith(
        "error: docker build failed: The command '/bin/sh -c "
                                 "PYTHONPATH=/tmp/envbuild/installer /opt/none/python3.11 -m pip")
    assert "/opt/none/python3.11: not found" in result.err
    assert result.err.endswith("hint: the build ran with network none; every input is in "
                               "the context\n")
    assert not (tmp_path / "layout").exists()


def base_with_entrypoint(layout: Path, out: Path) -> Path:
    """The test base with an entrypoint and a command in its config (another layout)."""
    from envbuild.canonical import canonical_bytes

    def put(data: bytes) -> dict[str, Any]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        (out / "blobs/sha256" / digest.split(":")[1]).write_bytes(data)
        return {"digest": digest, "size": len(data)}

    (out / "blobs/sha256").mkdir(parents=True)
    index = json.loads((layout / "index.json").read_bytes())
    manifest = json.loads((layout / "blobs/sha256" /
                           index["manifests"][0]["digest"].split(":")[1]).read_bytes())
    config = json.loads((layout / "blobs/sha256" /
                         manifest["config"]["digest"].split(":")[1]).read_bytes())
    config.setdefault("config", {}).update(Entrypoint=["/bin/sh", "-c"],
                                          Cmd=["python3", "-c", "print('base')"])
    for layer in manifest["layers"]:
        (out / "blobs/sha256" / layer["digest"].split(":")[1]).symlink_to(
            layout / "blobs/sha256" / layer["digest"].split(":")[1])
    manifest["config"].update(put(canonical_bytes(config)))
    entry = {**index["manifests"][0], **put(canonical_bytes(manifest))}
    (out / "index.json").write_bytes(canonical_bytes({**index, "manifests": [entry]}))
    (out / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    return out


@pytest.mark.docker
def test_the_config_is_the_native_builders(project: Project, tmp_path: Path,
                                           engine: Any) -> None:
    """Environment (quotes and `$` kept as written), working directory, labels; a base's
    entrypoint dropped and its command kept, as the native builder does."""
    base = base_with_entrypoint(base_layout(), tmp_path / "base")
    project.image = (f'\n[image]\nbase = "oci:{base}"\nworkdir = "/srv/app"\n'
                     '[image.env]\nGREETING = \'say "hi" to $USER\\\\n\'\n')
    project.write()

    def config(builder: str) -> dict[str, Any]:
        out = tmp_path / builder
        result = run_cli(["image", "-f", str(project.manifest), "--builder", builder,
                          "--output", f"oci:{out}"])
        assert result.code == 0, result.err
        index = json.loads((out / "index.json").read_bytes())
        blob = out / "blobs/sha256"
        manifest = json.loads((blob / index["manifests"][0]["digest"][7:]).read_bytes())
        return dict(json.loads((blob / manifest["config"]["digest"][7:]).read_bytes())["config"])

    native, docker = config("oci"), config("docker")
    assert docker["Env"] == native["Env"]
    assert 'GREETING=say "hi" to $USER\\\\n' in docker["Env"]
    assert (docker.get("Entrypoint"), docker["Cmd"]) == \
        (None, ["python3", "-c", "print('base')"]) == \
        (native.get("Entrypoint"), native["Cmd"])
    assert docker["WorkingDir"] == native["WorkingDir"] == "/srv/app"
    del native["Labels"]["org.envbuild.image-hash"]  # names the builder's own inputs
    assert docker["Labels"].pop("org.envbuild.builder") == "docker"  # the native has none
    assert {k: v for k, v in docker["Labels"].items() if k != "org.envbuild.image-hash"} == \
        native["Labels"]


def package_files(out: Path) -> dict[str, bytes]:
    """Every regular file under a site directory or bin in an image layout's layers but the
    base's, with its bytes."""
    import gzip
    import io

    index = json.loads((out / "index.json").read_bytes())
    blob = out / "blobs/sha256"
    manifest = json.loads((blob / index["manifests"][0]["digest"][7:]).read_bytes())
    found: dict[str, bytes] = {}
    for layer in manifest["layers"][len(base_layers(base_layout())):]:
        data = gzip.decompress((blob / layer["digest"][7:]).read_bytes())
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for member in tar.getmembers():
                handle = tar.extractfile(member) if member.isreg() else None
                if handle is not None and ("-packages/" in member.name
                                           or "/bin/" in member.name):
                    found[member.name] = handle.read()
    return found


@pytest.mark.docker
def test_the_package_files_are_the_native_builders_but_pips_own(project: Project,
                                                                 tmp_path: Path,
                                                                 engine: Any) -> None:
    """What `image --help` says: the same package files; pip's INSTALLER, RECORD, REQUESTED
    and console-script wrapper differ."""
    use_base(project)
    files = {}
    for builder in ("oci", "docker"):
        result = run_cli(["image", "-f", str(project.manifest), "--builder", builder,
                          "--output", f"oci:{tmp_path / builder}"])
        assert result.code == 0, result.err
        files[builder] = package_files(tmp_path / builder)
    native, docker = files["oci"], files["docker"]
    differ = sorted(name for name in native.keys() | docker.keys()
                    if native.get(name) != docker.get(name))
    site = "usr/local/lib/python3.11/dist-packages"
    assert differ == sorted(
        [*(f"{site}/{d}-1.0.dist-info/{f}" for d in ("alpha", "beta")
           for f in ("INSTALLER", "RECORD", "REQUESTED")),
         *(f"{site}/fastmath-2.0.dist-info/{f}" for f in ("INSTALLER", "RECORD", "REQUESTED")),
         "usr/local/bin/alpha"])


def test_an_engine_that_is_not_there_is_named_by_its_docker_host(
        project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    use_base(project)
    socket_path = tmp_path / "no-engine.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{socket_path}")
    result = run_cli(["image", "-f", str(project.manifest), "--builder", "docker",
                      "--output", f"oci:{tmp_path / 'layout'}"])
    assert result.code == 3
    assert result.err == (f"error: cannot reach the Docker engine at unix://{socket_path}: "
                          "No such file or directory\nhint: is it running? DOCKER_HOST names "
                          "it\n")
