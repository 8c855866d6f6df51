"""The `docker` builder and `export --format dockerfile`, against the real test engine,
registry and base layout (tests/image/services.py skips without them)."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from envbuild.lockfile import load
from tests.helpers import run_cli
from tests.image.project import Project
from tests.image.services import base_layout, docker_client, registry_address


def use_base(project: Project, extra: str = "") -> Path:
    base = base_layout()
    project.image = f'\n[image]\nbase = "oci:{base}"\n{extra}'
    project.write()
    return base


def base_id(layout: Path) -> str:
    def blob(digest: str) -> bytes:
        return (layout / "blobs/sha256" / digest.split(":")[1]).read_bytes()

    index = json.loads((layout / "index.json").read_bytes())
    return str(json.loads(blob(index["manifests"][0]["digest"]))["config"]["digest"])


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
    assert (out / "project/src/app/__main__.py").read_text() == "print('hi')\n"
    assert 'ENTRYPOINT ["python3", "-m", "app"]' in dockerfile
    assert f'"org.envbuild.image-hash"="{document["image_hash"]}"' in dockerfile


def build(project: Project, *extra: str) -> Any:
    result = run_cli(["image", "-f", str(project.manifest), "--builder", "docker", *extra,
                      "--json"])
    assert result.code == 0, result.err
    return json.loads(result.out)


@pytest.mark.docker
@pytest.mark.registry
def test_docker_build_verifies_in_the_engine_and_pushes(project: Project,
                                                        tmp_path: Path) -> None:
    client: Any = docker_client()
    address = registry_address()
    use_base(project)
    repository = f"{address}/test/docker-{uuid.uuid4().hex[:8]}"
    out = tmp_path / "layout"
    document = build(project, "--output", f"oci:{out}", "--push", repository)
    target = document["targets"]["cpu"]
    (pushed,) = document["pushed"]
    assert pushed["digest"] == target["digest"]
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
