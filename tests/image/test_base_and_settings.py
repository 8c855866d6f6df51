"""A base image from an OCI layout on disk, and the [image] table's validation."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from envbuild.canonical import canonical_bytes
from envbuild.image.layers import write_tar_gz
from tests.helpers import run_cli
from tests.image.project import Project
from tests.image.test_build import unpack


def make_base(folder: Path, python: str, tag: str = "bookworm",
              files: dict[str, bytes] | None = None) -> tuple[str, str]:
    """A one-layer base image holding a (fake) interpreter and `files` (path in the image ->
    bytes); returns (layer digest, diff_id)."""
    tree = folder.parent / f"{folder.name}-tree"
    (tree / "usr/bin").mkdir(parents=True)
    for path, data in (files or {}).items():
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        (tree / path).write_bytes(data)
    for program in (python, "bash"):  # bash: the config's Cmd, which the build checks
        (tree / "usr/bin" / program).write_bytes(b"\x7fELF fake")
        (tree / "usr/bin" / program).chmod(0o755)
    blobs = folder / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    tmp = folder / "layer.tmp"
    diff_id, digest, size = write_tar_gz(tree, tmp, epoch=0)
    tmp.rename(blobs / digest.split(":")[1])

    def put(data: bytes) -> tuple[str, int]:
        d = hashlib.sha256(data).hexdigest()
        (blobs / d).write_bytes(data)
        return f"sha256:{d}", len(data)

    config = canonical_bytes({"architecture": "amd64", "os": "linux",
                              "config": {"Env": ["PATH=/usr/bin:/bin", "LANG=C.UTF-8"],
                                         "Cmd": ["bash"]},
                              "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                              "history": [{"created_by": "base"}]})
    config_digest, config_size = put(config)
    manifest = canonical_bytes({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": digest, "size": size}]})
    manifest_digest, manifest_size = put(manifest)
    (folder / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (folder / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
        "size": manifest_size,
        "annotations": {"org.opencontainers.image.ref.name": tag}}]}))
    return digest, diff_id


def test_base_layers_come_first_and_its_python_is_found(project: Project,
                                                         tmp_path: Path) -> None:
    base = tmp_path / "base"
    digest, diff_id = make_base(base, "python3.11")
    project.image = f'\n[image]\nbase = "oci:{base}:bookworm"\nworkdir = "/app"\n'
    project.write()
    out = tmp_path / "out"
    result = run_cli(["image", "-f", str(project.manifest), "--output", f"oci:{out}", "--json"])
    assert result.code == 0, result.err
    layers = json.loads(result.out)["targets"]["cpu"]["layers"]
    assert layers[0]["digest"] == digest and layers[0]["diff_id"] == diff_id
    assert (out / "blobs/sha256" / digest.split(":")[1]).is_file()
    config = unpack(out, "cpu", tmp_path / "root")
    assert (tmp_path / "root/usr/bin/python3.11").is_file()
    assert config["rootfs"]["diff_ids"][0] == diff_id
    assert "LANG=C.UTF-8" in config["config"]["Env"]
    assert "PATH=/usr/local/bin:/usr/bin:/bin" in config["config"]["Env"]
    assert config["config"]["Labels"]["org.envbuild.python"] == "/usr/bin/python3.11"
    assert config["config"]["WorkingDir"] == "/app"
    assert config["config"]["Cmd"] == ["bash"]
    assert len(config["history"]) == 3  # base, packages, runtime and lock
    assert "ENVBUILD_TARGET=cpu" in config["config"]["Env"]
    # No site.py in this base: its interpreter's site directories are unknown, so packages go
    # to site-packages and PYTHONPATH names it (the documented fallback).
    assert "PYTHONPATH=/usr/local/lib/python3.11/site-packages" in config["config"]["Env"]
    assert (tmp_path / "root/usr/local/lib/python3.11/site-packages/alpha").is_dir()
    assert "ENVBUILD_LOCK=/opt/envbuild/envbuild.lock" in config["config"]["Env"]
    assert (tmp_path / "root/opt/envbuild/runtime/__main__.py").is_file()
    lock = (tmp_path / "root/opt/envbuild/envbuild.lock").read_text()
    assert "[targets.cpu]" in lock and "lock-hash" not in lock


DEBIAN_SITE = b"""\
sitepackages.append(os.path.join(prefix, "local/lib",
                                 "python%d.%d" % sys.version_info[:2],
                                 "dist-packages"))
"""


@pytest.mark.parametrize(("python", "files", "site"), [
    ("usr/bin/python3.11", {"usr/lib/python3.11/site.py": DEBIAN_SITE}, "dist-packages"),
    ("usr/local/bin/python3.11", {"usr/local/lib/python3.11/site.py": b"# python.org\n"},
     "site-packages")], ids=["debian", "python.org"])
def test_packages_go_to_the_base_interpreters_site_directory(
        project: Project, tmp_path: Path, python: str, files: dict[str, bytes],
        site: str) -> None:
    base = tmp_path / "base"
    # /usr/bin/python3 is not a python3.N: the interpreter is the one in `files`.
    make_base(base, "python3", files={python: b"\x7fELF fake", **files})
    project.image = f'\n[image]\nbase = "oci:{base}"\n'
    project.write()
    out = tmp_path / "out"
    result = run_cli(["image", "-f", str(project.manifest), "--output", f"oci:{out}", "--json"])
    assert result.code == 0, result.err
    config = unpack(out, "cpu", tmp_path / "root")
    assert not [e for e in config["config"]["Env"] if e.startswith("PYTHONPATH=")]
    installed = tmp_path / "root/usr/local/lib/python3.11" / site
    assert (installed / "alpha/__init__.py").is_file()
    assert (installed / "alpha-1.0.dist-info/RECORD").is_file()
    other = {"site-packages": "dist-packages", "dist-packages": "site-packages"}[site]
    assert not (tmp_path / "root/usr/local/lib/python3.11" / other).exists()
    script = (tmp_path / "root/usr/local/bin/alpha").read_bytes()
    assert script.startswith(f"#!/{python}\n".encode())


def test_base_with_another_python_is_refused(project: Project, tmp_path: Path) -> None:
    make_base(tmp_path / "base", "python3.12")
    project.image = f'\n[image]\nbase = "oci:{tmp_path / "base"}"\n'
    project.write()
    result = run_cli(["image", "-f", str(project.manifest), "--output", f"oci:{tmp_path/'o'}"])
    assert result.code == 2, result.err
    assert ('target "cpu" is locked for Python 3.11 but the image\'s interpreter is '
            "/usr/bin/python3.12") in result.err
    assert not (tmp_path / "o").exists()


def test_altered_base_blob_exits_1(project: Project, tmp_path: Path) -> None:
    digest, _ = make_base(tmp_path / "base", "python3.11")
    layer = tmp_path / "base/blobs/sha256" / digest.split(":")[1]
    data = bytearray(layer.read_bytes())
    data[-9] ^= 0xFF  # the gzip trailer's CRC: the file still reads, its digest differs
    layer.write_bytes(bytes(data))
    project.image = f'\n[image]\nbase = "oci:{tmp_path / "base"}"\npython = "/usr/bin/python3.11"\n'
    project.write()
    result = run_cli(["image", "-f", str(project.manifest), "--output", f"oci:{tmp_path/'o'}"])
    assert result.code == 1, result.err
    assert f"blob {digest}" in result.err and "does not match its digest" in result.err
    assert not (tmp_path / "o").exists()
    assert not list(tmp_path.glob(".o.*"))


def test_bad_image_table_lists_every_problem(project: Project, tmp_path: Path) -> None:
    project.image = ('\n[image]\nbase = "Python 3.11!"\nworkdir = "relative"\ncopy = ["../x"]\n'
                     'entrypoint = "python"\ncolour = "red"\n')
    project.write()
    result = run_cli(["image", "-f", str(project.manifest), "--output", f"oci:{tmp_path/'o'}"])
    assert result.code == 2, result.err
    lines = [x for x in result.err.splitlines() if x.startswith("envbuild.toml")]
    assert lines == [
        'envbuild.toml:12: image.base: "Python 3.11!" is neither "oci:DIR[:TAG]", '
        '"docker-archive:FILE" nor a registry reference like "127.0.0.1:5000/base/python:3.11@sha256:..."',
        'envbuild.toml:13: image.workdir: "relative" must be an absolute path without "..", '
        'for example "/workspace"',
        'envbuild.toml:14: image.copy[0]: "../x" must be a path inside the project, '
        "relative to the manifest",
        "envbuild.toml:15: image.entrypoint: must be an array of strings, for example "
        '["python3", "-m", "train"]',
        "envbuild.toml:16: image.colour: unknown key; allowed: base, repository, workdir, env, "
        "copy, entrypoint, python",
    ]
    assert "Traceback" not in result.err
