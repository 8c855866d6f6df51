"""`envbuild image rebuild-check REF` against the real local registry and index."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.helpers import run_cli
from tests.image.project import Project
from tests.image.services import pushed_base, registry_address

pytestmark = pytest.mark.registry
EPOCH = "1700000000"


def push_app(project: Project, monkeypatch: pytest.MonkeyPatch, app: str) -> tuple[str, str]:
    """Push the project with app.py holding `app`, built at EPOCH; (reference, digest)."""
    address = registry_address()
    repository = f"{address}/test/rebuild-{uuid.uuid4().hex[:8]}"
    project.image = (f'\n[image]\nbase = "{pushed_base(address)}"\n'
                     f'repository = "{repository}"\ncopy = ["app.py"]\n')
    (project.folder / "app.py").write_text(app)
    project.write()
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    result = run_cli(["image", "-f", str(project.manifest), "--push", "--json"])
    # The check must find the epoch in the image, not in the environment.
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert result.code == 0, result.err
    (pushed,) = json.loads(result.out)["pushed"]
    return pushed["reference"], pushed["digest"]


def test_published_image_rebuilds_to_the_same_digest(project: Project, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    reference, digest = push_app(project, monkeypatch, "print('hello')\n")
    # An empty cache, as on another machine: wheels come from the index, the base from
    # the registry, both by the hashes the carried lock pins.
    monkeypatch.setenv("ENVBUILD_CACHE_DIR", str(tmp_path / "other-machine"))
    result = run_cli(["image", "rebuild-check", "-f", str(project.manifest), reference])
    assert result.code == 0, result.err
    repository = reference.rsplit(":", 1)[0]
    assert result.out.splitlines() == [
        f"cpu  {repository}:{reference.rsplit(':', 1)[1]}@{digest}",
        f"published  {digest}", f"rebuilt    {digest}",
        "same digest: the image is what its lock and the project build"]
    by_digest = run_cli(["image", "rebuild-check", "-f", str(project.manifest),
                         f"{repository}@{digest}", "--json"])
    assert by_digest.code == 0, by_digest.err
    document = json.loads(by_digest.out)
    assert (document["published"], document["rebuilt"], document["same"],
            document["epoch"], document["layers"]) == (digest, digest, True, int(EPOCH), [])


def test_image_with_other_copied_file_but_same_lock_differs_in_that_layer(
        project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    # Published from a tree whose app.py differs: the carried lock is the same.
    reference, digest = push_app(project, monkeypatch, "print('tampered')\n")
    (project.folder / "app.py").write_text("print('hello')\n")
    result = run_cli(["image", "rebuild-check", "-f", str(project.manifest), reference,
                      "--json"])
    assert result.code == 1, result.err
    document = json.loads(result.out)
    assert document["published"] == digest and document["rebuilt"] != digest
    (layer,) = document["layers"]
    assert layer["name"] == "project files"
    assert document["config_fields"] == ["config.Labels", "rootfs"]  # image hash, diff_id
    assert f"  layer {layer['position']} (project files): published {layer['published']}, " \
           f"rebuilt {layer['rebuilt']}" in result.err


def test_image_without_a_carried_lock_is_bad_input(project: Project) -> None:
    base = pushed_base(registry_address())
    result = run_cli(["image", "rebuild-check", "-f", str(project.manifest), base])
    assert result.code == 2, result.err
    assert f"{base.split(':3.11@')[0]}:3.11@" in result.err
    assert "is not an envbuild image: its history names no layer with the runtime and lock" \
        in result.err


def test_unreachable_registry_exits_3(project: Project) -> None:
    result = run_cli(["image", "rebuild-check", "-f", str(project.manifest),
                      "127.0.0.1:9/none/app:v1"])
    assert result.code == 3, result.err
    assert "cannot reach registry 127.0.0.1:9" in result.err


def carried_text(project: Project) -> str:
    from envbuild.image.payload import lock_text
    from envbuild.lockfile import load

    lock = load(project.lock)
    return lock_text(lock, lock.targets["cpu"]).decode()


def test_carried_lock_gives_back_its_own_bytes(project: Project) -> None:
    from envbuild.image.payload import lock_text
    from envbuild.lockfile.reader import load_carried as carried_lock

    text = carried_text(project)
    lock = carried_lock(text, source="img:/opt/envbuild/envbuild.lock")
    # The payload layer is rebuilt from this model: it must write the carried bytes again.
    assert lock_text(lock, lock.targets["cpu"]).decode() == text


def test_carried_lock_that_does_not_prove_is_refused(project: Project) -> None:
    from envbuild.lockfile import LockNotProved
    from envbuild.lockfile.reader import load_carried as carried_lock

    text = carried_text(project).replace('version = "1.0"', 'version = "1.1"', 1)
    with pytest.raises(LockNotProved) as caught:
        carried_lock(text, source="img:/opt/envbuild/envbuild.lock")
    assert caught.value.message.startswith(
        "img:/opt/envbuild/envbuild.lock: the lock does not prove; its content does not match "
        'its hashes:\n  target "cpu": its content does not match its recorded hash')
    assert caught.value.exit_code == 1
