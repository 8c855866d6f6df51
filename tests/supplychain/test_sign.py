"""`envbuild image sign` / `verify-sig` on the real local registry: a signed image verifies,
and a one-byte change of its manifest, SBOM or provenance in the registry makes verify fail."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
import uuid
from pathlib import Path

import pytest

from envbuild.image.config import MANIFEST
from envbuild.image.registry.distribution import open_registry
from envbuild.image.registry.interface import OCI_INDEX, Reference, parse_reference
from envbuild.supplychain import PROVENANCE_TYPE, SBOM_TYPE
from envbuild.supplychain.referrers import artifact_manifest, attach, fallback_tag, find, read
from envbuild.supplychain.sign import SIGNATURE_TYPE, load_public_key
from tests.helpers import run_cli
from tests.image.project import Project
from tests.image.services import registry_address
from tests.supplychain.test_attestations import fetch, push, push_two_platforms, setup

HINT_CHANGED = "hint: it was changed in the registry after signing\n"


def new_key(folder: Path, name: str = "signing.key") -> Path:
    path = folder / name
    result = run_cli(["image", "sign", "--generate-key", str(path)])
    assert result.code == 0, result.err
    return path


def sign(project: Project, key: Path, *ref: str) -> tuple[int, str, str]:
    target = () if ref else ("-f", str(project.manifest), "--target", "cpu")
    result = run_cli(["image", "sign", "--key", str(key), *target, *ref])
    return result.code, result.out, result.err


def verify(key: Path, ref: str) -> tuple[int, str, str]:
    result = run_cli(["image", "verify-sig", "--key", f"{key}.pub" if key.suffix == ".key"
                      else str(key), ref])
    return result.code, result.out, result.err


def signed_image(project: Project, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> tuple[Reference, str, Path, str]:
    """A pushed and signed image: (repository, image digest, private key path, tagged ref)."""
    repository = parse_reference(setup(project, monkeypatch))
    (pushed,) = push(project)["pushed"]
    key = new_key(tmp_path)
    code, _, err = sign(project, key)
    assert (code, err) == (0, "")
    return repository, pushed["digest"], key, pushed["reference"]


def swap_attestation(repository: Reference, image: str, media_type: str,
                     tmp_path: Path) -> tuple[str, str]:
    """Replace the attached `media_type` document by one with one byte changed (every
    digest in the chain valid); return (old, new) artifact manifest digests."""
    registry = open_registry(repository)
    try:
        (old,) = find(registry, repository, image, media_type)
        original = read(registry, repository, old, image, media_type)
        at = original.index(b"1", original.index(b"sha256"))
        changed = original[:at] + b"2" + original[at + 1:]
        (tmp_path / "doc").write_bytes(changed)
        registry.put_blob(repository.repository,
                          "sha256:" + hashlib.sha256(changed).hexdigest(), tmp_path / "doc")
        manifest = fetch(repository, image)
        artifact = artifact_manifest({"mediaType": MANIFEST, "digest": image,
                                      "size": len(manifest)}, media_type, changed)
        new = registry.put_manifest(
            repository.with_digest("sha256:" + hashlib.sha256(artifact).hexdigest()),
            MANIFEST, artifact)
        index = json.loads(fetch(repository, fallback_tag(image)))
        index["manifests"] = [d if d["artifactType"] != media_type else
                              {**d, "digest": new, "size": len(artifact)}
                              for d in index["manifests"]]
        registry.put_manifest(repository.with_tag(fallback_tag(image)), OCI_INDEX,
                              json.dumps(index).encode())
    finally:
        registry.close()
    return str(old["digest"]), new


@pytest.mark.registry
def test_a_signed_image_verifies_by_digest_and_by_tag(
        project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repository, image, key, tagged = signed_image(project, tmp_path, monkeypatch)
    keyid = load_public_key(Path(f"{key}.pub")).keyid
    assert parse_reference(tagged).digest is None  # a tag: verify resolves it once
    for ref in (f"{repository}@{image}", tagged):
        code, out, err = verify(key, ref)
        assert (code, err) == (0, "")
        assert out == (f"verified {repository}@{image}  key {keyid[:16]}  sbom and "
                       "provenance as signed\n")
    # The signature is one more referrer; signing again (ed25519 is deterministic) adds none.
    registry = open_registry(repository)
    try:
        (first,) = find(registry, repository, image, SIGNATURE_TYPE)
        assert sign(project, key, f"{repository}@{image}")[0] == 0
        assert find(registry, repository, image, SIGNATURE_TYPE) == [first]
        envelope = json.loads(read(registry, repository, first, image, SIGNATURE_TYPE))
    finally:
        registry.close()
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    assert [s["keyid"] for s in envelope["signatures"]] == [keyid]
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["subject"][0]["digest"] == {"sha256": image[7:]}
    registry = open_registry(repository)
    try:
        attached = sorted((t, str(d["digest"])) for t in (SBOM_TYPE, PROVENANCE_TYPE)
                          for d in find(registry, repository, image, t))
    finally:
        registry.close()
    assert sorted((a["artifactType"], a["digest"])
                  for a in statement["predicate"]["attestations"]) == attached


@pytest.mark.registry
@pytest.mark.parametrize("kind", ["sbom", "provenance"])
def test_a_one_byte_change_of_an_attestation_fails_verify(
        project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    repository, image, key, _ = signed_image(project, tmp_path, monkeypatch)
    old, new = swap_attestation(repository, image,
                                SBOM_TYPE if kind == "sbom" else PROVENANCE_TYPE, tmp_path)
    code, out, err = verify(key, f"{repository}@{image}")
    assert (code, out) == (1, "")
    assert err == (f"error: {repository}@{image}: the attached {kind} is not the signed one "
                   f"(signed {old}, attached {new})\n" + HINT_CHANGED)


@pytest.mark.registry
def test_a_one_byte_change_of_the_manifest_fails_verify(
        project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repository, image, key, _ = signed_image(project, tmp_path, monkeypatch)
    manifest = fetch(repository, image)
    at = manifest.index(b"tar")  # a layer's media type: one byte, still a valid manifest
    changed = manifest[:at] + b"T" + manifest[at + 1:]
    new = "sha256:" + hashlib.sha256(changed).hexdigest()
    registry = open_registry(repository)
    try:
        # The tag is moved to the changed manifest, and the original signature copied onto
        # it: the signature itself is valid, only what it names differs.
        registry.put_manifest(repository.with_tag("moved"), MANIFEST, changed)
        (signature,) = find(registry, repository, image, SIGNATURE_TYPE)
        envelope = read(registry, repository, signature, image, SIGNATURE_TYPE)
        attach(registry, repository, {"mediaType": MANIFEST, "digest": new,
                                      "size": len(changed)}, SIGNATURE_TYPE, envelope)
    finally:
        registry.close()
    for ref in (f"{repository}:moved", f"{repository}@{new}"):
        code, out, err = verify(key, ref)
        assert (code, out) == (1, "")
        assert err == (f"error: {repository}@{new}: the signature is for the image {image}, "
                       f"not {new}\nhint: the image manifest is not the one signed\n")


@pytest.mark.registry
def test_another_key_fails_verify(project: Project, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    repository, image, _, _ = signed_image(project, tmp_path, monkeypatch)
    other = new_key(tmp_path, "other.key")
    keyid = load_public_key(Path(f"{other}.pub")).keyid
    code, out, err = verify(other, f"{repository}@{image}")
    assert (code, out) == (1, "")
    assert err == (f"error: {repository}@{image}: no attached signature is valid for the key "
                   f"{keyid[:16]}\nhint: it was signed with another key, or a signature "
                   "changed\n")


@pytest.mark.registry
def test_an_unsigned_image_fails_verify(project: Project, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    repository = parse_reference(setup(project, monkeypatch))
    (pushed,) = push(project)["pushed"]
    code, out, err = verify(new_key(tmp_path), f"{repository}@{pushed['digest']}")
    assert (code, out) == (1, "")
    assert err == (f"error: {repository}@{pushed['digest']}: no signature is attached\n"
                   "hint: sign it: `envbuild image sign --key FILE REF@sha256:...`\n")


def test_signing_a_tag_is_refused(project: Project, tmp_path: Path) -> None:
    code, out, err = sign(project, new_key(tmp_path), "127.0.0.1:1/team/app:v1")
    assert (code, out) == (2, "")
    assert err == ("error: 127.0.0.1:1/team/app:v1: refusing to sign a tag, which can move "
                   "after signing\nhint: name the image by digest (REF@sha256:...), or sign "
                   "the pushed image of a target with --target T\n")


def test_generated_key_is_private_and_never_printed(tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    result = run_cli(["image", "sign", "--generate-key", str(path)])
    assert result.code == 0, result.err
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in path.read_bytes()
    assert b"PUBLIC KEY" in Path(f"{path}.pub").read_bytes()
    keyid = load_public_key(Path(f"{path}.pub")).keyid
    assert result.out == (f"wrote the private key {path} (keep it secret) and the public key "
                          f"{path}.pub (key id {keyid[:16]})\n")
    again = run_cli(["image", "sign", "--generate-key", str(path)])
    assert (again.code, again.err) == (2, f"error: {path} exists; refusing to overwrite a key\n"
                                          "hint: name a new file, or remove the old key first\n")


def test_a_public_key_is_not_a_signing_key(tmp_path: Path) -> None:
    key = new_key(tmp_path)
    result = run_cli(["image", "sign", "--key", f"{key}.pub", "127.0.0.1:1/a/b@sha256:" + "0" * 64])
    assert (result.code, result.out) == (2, "")
    assert result.err == (f"error: {key}.pub: not an unencrypted PEM private key (ValueError)\n"
                          "hint: make one with `envbuild image sign --generate-key FILE`\n")


def test_a_private_key_is_not_a_public_key(tmp_path: Path) -> None:
    key = new_key(tmp_path)
    result = run_cli(["image", "verify-sig", "--key", str(key), "127.0.0.1:1/a/b:v1"])
    code, out, err = result.code, result.out, result.err
    assert (code, out) == (2, "")
    assert err == (f"error: {key}: not a PEM public key\nhint: give the FILE.pub written by "
                   "`envbuild image sign --generate-key FILE`\n")


def test_an_unreachable_registry_is_exit_3(tmp_path: Path) -> None:
    key = new_key(tmp_path)
    result = run_cli(["image", "verify-sig", "--key", f"{key}.pub", "127.0.0.1:1/a/b:v1"])
    assert (result.code, result.out) == (3, "")
    assert result.err == ("error: cannot reach registry 127.0.0.1:1: [Errno 111] Connection "
                          "refused\nhint: check that it is up and the address is right\n")


NO_SUCH_HINT = ("hint: check the repository, tag and digest; `envbuild image --push` prints "
                "each pushed image's digest\n")


@pytest.mark.registry
def test_a_missing_image_is_bad_input_for_sign_and_verify(tmp_path: Path) -> None:
    key = new_key(tmp_path)
    repository = f"{registry_address()}/test/absent-{uuid.uuid4().hex[:8]}"
    missing = f"{repository}@sha256:{'0' * 64}"
    for result in (run_cli(["image", "sign", "--key", str(key), missing]),
                   run_cli(["image", "verify-sig", "--key", f"{key}.pub", missing])):
        assert (result.code, result.out) == (2, "")
        assert result.err == f"error: {missing}: no such image in the registry\n" + NO_SUCH_HINT
    result = run_cli(["image", "verify-sig", "--key", f"{key}.pub", f"{repository}:v1"])
    assert (result.code, result.out) == (2, "")
    assert result.err == (f"error: {repository}:v1: no such image in the registry\n"
                          + NO_SUCH_HINT)


@pytest.mark.registry
def test_verifying_an_index_names_its_platform_images(
        project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repository, document = push_two_platforms(project, "sign")
    (pushed,) = document["pushed"]
    key = new_key(tmp_path)
    signed = run_cli(["image", "sign", "--key", str(key), "-f", str(project.manifest),
                      "--target", "amd"])
    assert signed.code == 0, signed.err
    amd, arm = (document["targets"][n]["digest"] for n in ("amd", "arm"))
    platforms = f"linux/amd64 {repository}@{amd}, linux/arm64 {repository}@{arm}"
    for ref in (pushed["reference"], f"{repository}@{pushed['digest']}"):
        code, out, err = verify(key, ref)
        pinned = f"{ref}@{pushed['digest']}" if "@" not in ref else ref
        assert (code, out) == (2, "")
        assert err == (f"error: {pinned} is an image index; the SBOM, provenance and signature "
                       "hang on each platform's image manifest\nhint: verify each platform's "
                       f"image by digest: {platforms}\n")
    signing = run_cli(["image", "sign", "--key", str(key), f"{repository}@{pushed['digest']}"])
    assert (signing.code, signing.out) == (2, "")
    assert signing.err == (f"error: {repository}@{pushed['digest']} is an image index; the "
                           "SBOM, provenance and signature hang on each platform's image "
                           "manifest\nhint: sign each target with --target T, or one "
                           f"platform's image by digest: {platforms}\n")
    code, _, err = verify(key, f"{repository}@{amd}")
    assert (code, err) == (0, "")


def test_a_key_in_a_missing_folder_says_to_create_it(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "signing.key"
    result = run_cli(["image", "sign", "--generate-key", str(path)])
    assert (result.code, result.out) == (2, "")
    assert result.err == (f"error: {path}: the folder {path.parent} does not exist\n"
                          f"hint: create it first (mkdir -m 700 -p {path.parent}), or name a "
                          "file in an existing folder\n")
    assert not path.parent.exists()
