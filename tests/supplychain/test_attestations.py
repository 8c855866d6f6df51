"""SBOM and provenance: made at `envbuild image --push`, attached as OCI referrers on the
real local registry (which has no referrers API: the tag schema is used), read back and
checked by `envbuild image inspect`."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from envbuild.image.config import MANIFEST
from envbuild.image.registry.distribution import open_registry
from envbuild.image.registry.interface import OCI_INDEX, Reference, parse_reference
from envbuild.lockfile import load
from envbuild.supplychain import PROVENANCE_TYPE, SBOM_TYPE, Subject
from envbuild.supplychain.provenance import provenance_bytes
from envbuild.supplychain.referrers import artifact_manifest, fallback_tag
from envbuild.supplychain.sbom import recorded_datasets, sbom_bytes
from tests.helpers import run_cli
from tests.image.project import ARM64, CPU, Project
from tests.image.services import pushed_base, registry_address
from tests.supplychain.schemas import SLSA_PROVENANCE_V1, STATEMENT

EPOCH = "1700000000"


def setup(project: Project, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the project at the pushed base and a fresh repository; return the repository."""
    address = registry_address()
    repository = f"{address}/test/attest-{uuid.uuid4().hex[:8]}"
    project.image = (f'\n[image]\nbase = "{pushed_base(address)}"\n'
                     f'repository = "{repository}"\n')
    project.write()
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    return repository


def push(project: Project, *extra: str) -> dict[str, Any]:
    result = run_cli(["image", "-f", str(project.manifest), "--push", *extra, "--json"])
    assert result.code == 0, result.err
    document: dict[str, Any] = json.loads(result.out)
    return document


def inspect(project: Project, kind: str) -> tuple[int, str, str]:
    result = run_cli(["image", "inspect", "-f", str(project.manifest), "--target", "cpu",
                      f"--{kind}"])
    return result.code, result.out, result.err


def fetch(repository: Reference, reference: str) -> bytes:
    registry = open_registry(repository)
    try:
        ref = repository.with_digest(reference) if reference.startswith("sha256:") \
            else repository.with_tag(reference)
        return registry.get_manifest(ref).data
    finally:
        registry.close()


def blob(repository: Reference, digest: str, dest: Path) -> bytes:
    registry = open_registry(repository)
    try:
        registry.get_blob(repository.repository, digest, dest)
    finally:
        registry.close()
    return dest.read_bytes()


def validate(sbom: bytes, provenance: bytes) -> None:
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(sbom.decode())
    assert error is None, error
    statement = json.loads(provenance)
    jsonschema.validate(statement, STATEMENT)
    jsonschema.validate(statement["predicate"], SLSA_PROVENANCE_V1)


def git_commit(folder: Path) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"}
    init = [] if (folder / ".git").exists() else [["init", "-q"]]
    for args in [*init, ["add", "-A"], ["commit", "-q", "-m", "project"]]:
        subprocess.run(["git", "-C", str(folder), *args], check=True, env=env)
    return subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()


def test_documents_are_schema_valid_and_name_every_input(project: Project,
                                                         tmp_path: Path) -> None:
    result = run_cli(["image", "-f", str(project.manifest), "--output",
                      f"oci:{tmp_path / 'out'}", "--json"])
    assert result.code == 0, result.err
    built = json.loads(result.out)["targets"]["cpu"]
    lock = load(project.lock)
    subject = Subject(target="cpu", digest=built["digest"], image_hash=built["image_hash"],
                      epoch=int(EPOCH))
    sbom = sbom_bytes(lock, subject)
    provenance = provenance_bytes(lock, subject, builder_version="9.9", commit="ab" * 20)
    validate(sbom, provenance)
    bom = json.loads(sbom)
    packages = {c["purl"]: c["hashes"][0]["content"] for c in bom["components"]
                if c["type"] == "library"}
    assert packages == {f"pkg:pypi/{p.name}@{p.version}": p.artifact.hash.split(":")[1]
                        for p in lock.targets["cpu"].packages}
    assert bom["metadata"]["component"]["version"] == built["digest"]
    assert bom["metadata"]["timestamp"] == "2023-11-14T22:13:20+00:00"
    predicate = json.loads(provenance)["predicate"]
    parameters = predicate["buildDefinition"]["externalParameters"]
    assert parameters == {"target": "cpu", "lockHash": lock.lock_hash,
                          "targetHash": lock.targets["cpu"].hash,
                          "imageHash": built["image_hash"], "inputHash": lock.input_hash,
                          "baseDigest": None}
    assert {"name": "source", "digest": {"gitCommit": "ab" * 20}} in \
        predicate["buildDefinition"]["resolvedDependencies"]
    # The datasets of the lock are listed, and read back as a check takes them.
    digest = "blake3:" + "c" * 64
    with_data = dataclasses.replace(lock, datasets={"val": {"digest": digest, "files": 1,
                                                            "size": 1}})
    data = sbom_bytes(with_data, subject)
    validate(data, provenance)
    (component,) = [c for c in json.loads(data)["components"] if c["type"] == "data"]
    assert (component["name"], component["hashes"]) == \
        ("val", [{"alg": "BLAKE3", "content": "c" * 64}])
    assert recorded_datasets(data) == {"val": digest}
    assert recorded_datasets(sbom) == {}
    assert sbom_bytes(lock, subject, datasets={"val": digest}) == data
    # The library's random serial and bom-refs are replaced: the same inputs, the same bytes.
    assert sbom_bytes(lock, subject) == sbom
    assert provenance_bytes(lock, subject, builder_version="9.9", commit="ab" * 20) == \
        provenance


@pytest.mark.registry
def test_push_attaches_referrers_by_tag_schema_and_inspect_prints_them(
        project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repository = parse_reference(setup(project, monkeypatch))
    commit = git_commit(project.folder)
    (pushed,) = push(project)["pushed"]
    image_digest = pushed["digest"]
    # The image manifest as the registry serves it by tag: its digest is the pushed one.
    manifest = fetch(repository, pushed["reference"].rsplit(":", 1)[1])
    assert "sha256:" + hashlib.sha256(manifest).hexdigest() == image_digest
    registry = open_registry(repository)
    try:
        assert registry.referrers(repository.repository, image_digest) is None  # no API: 404
    finally:
        registry.close()
    index = json.loads(fetch(repository, fallback_tag(image_digest)))
    assert index["mediaType"] == OCI_INDEX
    assert sorted(d["digest"] for d in index["manifests"]) == sorted(pushed["referrers"])
    documents = {}
    for descriptor in index["manifests"]:
        artifact = json.loads(fetch(repository, descriptor["digest"]))
        assert artifact["artifactType"] == descriptor["artifactType"]
        assert artifact["subject"] == {"mediaType": MANIFEST, "digest": image_digest,
                                       "size": len(manifest)}
        (layer,) = artifact["layers"]
        documents[artifact["artifactType"]] = blob(repository, layer["digest"],
                                                   tmp_path / layer["digest"][7:])
    validate(documents[SBOM_TYPE], documents[PROVENANCE_TYPE])
    statement = json.loads(documents[PROVENANCE_TYPE])
    assert statement["subject"][0]["digest"] == {"sha256": image_digest[7:]}
    dependencies = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    lock = load(project.lock)
    base, base_digest = lock.targets["cpu"].base, lock.targets["cpu"].base_digest
    assert base is not None and base_digest is not None
    assert {"name": "source", "digest": {"gitCommit": commit}} in dependencies
    assert {"name": "base", "uri": base.split("@")[0],
            "digest": {"sha256": base_digest[7:]}} in dependencies
    (component,) = [c for c in json.loads(documents[SBOM_TYPE])["components"]
                    if c["bom-ref"] == "base-image"]
    assert (component["name"], component["version"]) == (base.split("@")[0], base_digest)
    for kind, media_type in (("sbom", SBOM_TYPE), ("provenance", PROVENANCE_TYPE)):
        code, out, err = inspect(project, kind)
        assert (code, err) == (0, "")
        assert out.encode() == documents[media_type]


@pytest.mark.registry
def test_two_builds_give_byte_identical_attestations(
        project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first_repository = setup(project, monkeypatch)
    (first,) = push(project)["pushed"]
    monkeypatch.setenv("ENVBUILD_CACHE_DIR", str(tmp_path / "other-cache"))  # a clean build
    second_repository = f"{registry_address()}/test/attest-{uuid.uuid4().hex[:8]}"
    (second,) = push(project, second_repository)["pushed"]
    assert second["digest"] == first["digest"]
    # An artifact manifest names its document by digest: equal manifests, equal documents.
    assert second["referrers"] == first["referrers"]
    assert len(first["referrers"]) == 2
    for reference in (first_repository, second_repository):
        index = json.loads(fetch(parse_reference(reference), fallback_tag(first["digest"])))
        assert sorted(d["digest"] for d in index["manifests"]) == sorted(first["referrers"])


def push_two_platforms(project: Project, prefix: str) -> tuple[str, dict[str, Any]]:
    """Push an amd64 and an arm64 target (one image index) to a fresh repository:
    (repository, the push's --json document)."""
    project.targets = {"amd": CPU, "arm": ARM64}
    repository = f"{registry_address()}/test/{prefix}-{uuid.uuid4().hex[:8]}"
    project.image = f'\n[image]\nrepository = "{repository}"\n'  # no arm64 base here
    project.write()
    return repository, push(project)


@pytest.mark.registry
def test_targets_pushed_as_one_index_get_attestations_per_image(
        project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    _, document = push_two_platforms(project, "attest")
    (pushed,) = document["pushed"]
    assert len(pushed["referrers"]) == 4  # two documents per image manifest, none for the index
    for name in ("amd", "arm"):
        result = run_cli(["image", "inspect", "-f", str(project.manifest), "--target", name,
                          "--sbom"])
        assert result.code == 0, result.err
        bom = json.loads(result.out)
        assert bom["metadata"]["component"]["version"] == document["targets"][name]["digest"]


@pytest.mark.registry
@pytest.mark.parametrize("kind", ["sbom", "provenance"])
def test_inspect_detects_a_one_byte_change_in_the_registry(
        project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    repository = parse_reference(setup(project, monkeypatch))
    (pushed,) = push(project)["pushed"]
    code, out, _ = inspect(project, kind)
    assert code == 0
    original = out.encode()
    # Someone with push rights swaps the attestation for one with one byte changed: every
    # digest in the chain is valid, only the content differs from what the lock gives.
    at = original.index(b"1", original.index(b"sha256"))  # a byte inside a digest
    changed = original[:at] + b"2" + original[at + 1:]
    media_type = SBOM_TYPE if kind == "sbom" else PROVENANCE_TYPE
    manifest = fetch(repository, pushed["digest"])
    artifact = artifact_manifest({"mediaType": MANIFEST, "digest": pushed["digest"],
                                  "size": len(manifest)}, media_type, changed)
    (tmp_path / "doc").write_bytes(changed)
    registry = open_registry(repository)
    try:
        registry.put_blob(repository.repository,
                          "sha256:" + hashlib.sha256(changed).hexdigest(), tmp_path / "doc")
        artifact_digest = registry.put_manifest(
            repository.with_digest("sha256:" + hashlib.sha256(artifact).hexdigest()),
            MANIFEST, artifact)
        index = json.loads(fetch(repository, fallback_tag(pushed["digest"])))
        index["manifests"] = [d if d["artifactType"] != media_type else
                              {**d, "digest": artifact_digest, "size": len(artifact)}
                              for d in index["manifests"]]
        registry.put_manifest(repository.with_tag(fallback_tag(pushed["digest"])), OCI_INDEX,
                              json.dumps(index).encode())
    finally:
        registry.close()
    code, out, err = inspect(project, kind)
    assert (code, out) == (1, "")
    assert err == (f"error: {repository}@{pushed['digest']}: the attached {kind} is not what "
                   f"the lock and the push record give (first difference at byte {at})\n"
                   "hint: it was changed in the registry, or the target changed since the "
                   "push; push again (which replaces it) or investigate\n")


def test_inspect_without_a_push_record_says_to_push(project: Project) -> None:
    code, out, err = inspect(project, "sbom")
    assert (code, out) == (2, "")
    assert err == ('error: target "cpu" has no pushed image recorded in images.json\n'
                   "hint: run `envbuild image --push --target cpu` first\n")


@pytest.mark.parametrize(("flags", "message"), [
    ((), "error: give --sbom or --provenance\n"),
    (("--sbom", "--provenance"),
     "error: give --sbom or --provenance, not both: each prints one document\n"
     "hint: run inspect once for each\n")])
def test_inspect_wants_exactly_one_document(project: Project, flags: tuple[str, ...],
                                            message: str) -> None:
    result = run_cli(["image", "inspect", "-f", str(project.manifest), "--target", "cpu",
                      *flags])
    assert (result.code, result.out, result.err) == (2, "", message)
