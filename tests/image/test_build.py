"""`envbuild image` end to end: a real local index, the real CLI boundary, real files."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_cli
from tests.image.project import ALPHA, ARM64, BETA, CPU, NVIDIA, Project, layout_files
from tests.support.wheelfactory import DistSpec, build_wheel

ROOT = Path(__file__).resolve().parents[2]


def build(project: Project, out: Path, *extra: str) -> dict[str, Any]:
    result = run_cli(["image", "-f", str(project.manifest), "--output", f"oci:{out}",
                      "--json", *extra])
    assert result.code == 0, result.err
    document: dict[str, Any] = json.loads(result.out)
    return document


def blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()


def unpack(layout: Path, target: str, dest: Path) -> dict[str, Any]:
    """Apply the target's layers in order into `dest`; return its config."""
    index = json.loads((layout / "index.json").read_bytes())
    (entry,) = [m for m in index["manifests"]
                if m["annotations"]["org.opencontainers.image.ref.name"] == target]
    manifest = json.loads(blob(layout, entry["digest"]))
    for layer in manifest["layers"]:
        data = gzip.decompress(blob(layout, layer["digest"]))
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(dest, filter="tar")
    config: dict[str, Any] = json.loads(blob(layout, manifest["config"]["digest"]))
    return config


def run_subprocess_build(project: Project, out: Path, cache: Path, env_extra: dict[str, str],
                         umask: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "LC_"))}
    env.update(env_extra, ENVBUILD_CACHE_DIR=str(cache), PYTHONPATH=str(ROOT))
    command = (f"umask {umask} && exec {sys.executable} -m envbuild image "
               f"-f {project.manifest} --output oci:{out}")
    done = subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True,
                          cwd=out.parent, check=False)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("targets", [{"cpu": CPU}, {"arm": ARM64}], ids=["amd64", "arm64"])
def test_two_clean_builds_on_different_hosts_are_byte_identical(
        project: Project, tmp_path: Path, targets: dict[str, dict[str, Any]]) -> None:
    project.targets = targets
    project.image = '\n[image]\ncopy = ["src"]\nentrypoint = ["python", "-m", "app"]\n'
    (project.folder / "src").mkdir()
    (project.folder / "src" / "app.py").write_text("print('hi')\n")
    project.write()
    first, second = tmp_path / "one" / "layout", tmp_path / "two" / "deeper" / "layout"
    first.parent.mkdir(parents=True)
    second.parent.mkdir(parents=True)
    home_a, home_b = tmp_path / "home-a", tmp_path / "home-b"
    home_a.mkdir()
    home_b.mkdir()
    run_subprocess_build(project, first, tmp_path / "cache-a",
                         {"TZ": "UTC", "HOME": str(home_a), "LANG": "C.UTF-8",
                          "SOURCE_DATE_EPOCH": "1700000000"}, "022")
    run_subprocess_build(project, second, tmp_path / "cache-b",
                         {"TZ": "Pacific/Kiritimati", "HOME": str(home_b), "LANG": "POSIX",
                          "LC_ALL": "C", "SOURCE_DATE_EPOCH": "1700000000"}, "077")
    one, two = layout_files(first), layout_files(second)
    assert one == two
    index = json.loads(one["index.json"])
    (entry,) = index["manifests"]
    arch = "arm64" if "arm" in targets else "amd64"
    assert entry["platform"] == {"os": "linux", "architecture": arch}
    config = unpack(first, next(iter(targets)), tmp_path / "root")
    assert config["created"] == "2023-11-14T22:13:20Z"
    machine = "aarch64" if arch == "arm64" else "x86_64"
    site = tmp_path / "root/usr/local/lib/python3.11/site-packages"
    assert (site / f"fastmath/_core.cpython-311-{machine}-linux-gnu.so").is_file()
    assert (tmp_path / "root/workspace/src/app.py").read_text() == "print('hi')\n"


def test_installed_tree_is_right_and_imports(project: Project, tmp_path: Path) -> None:
    document = build(project, tmp_path / "out")
    root = tmp_path / "root"
    config = unpack(tmp_path / "out", "cpu", root)
    script = (root / "usr/local/bin/alpha").read_bytes()
    assert script.startswith(b"#!/usr/local/bin/python3.11\n")
    assert os.access(root / "usr/local/bin/alpha", os.X_OK)
    site = root / "usr/local/lib/python3.11/site-packages"
    record = (site / "alpha-1.0.dist-info/RECORD").read_text().splitlines()
    paths = [line.split(",")[0] for line in record]
    assert paths == sorted(paths)
    assert "../../../bin/alpha" in paths
    assert "alpha-1.0.dist-info/INSTALLER" in paths
    assert str(tmp_path) not in "".join(record)
    assert (site / "alpha-1.0.dist-info/INSTALLER").read_text() == "envbuild\n"
    assert not list(root.rglob("direct_url.json"))
    assert not list(root.rglob("*.pyc"))
    env_list = config["config"]["Env"]
    assert not [e for e in env_list if e.startswith("PYTHONPATH=")]  # a site directory
    assert not any(e.startswith("NVIDIA_") for e in env_list)
    labels = config["config"]["Labels"]
    targets = document["targets"]
    assert labels["org.envbuild.image-hash"] == targets["cpu"]["image_hash"]
    assert labels["org.opencontainers.image.created"] == "1970-01-01T00:00:00Z"
    done = subprocess.run(
        [sys.executable, "-I", "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
         "import alpha, beta, fastmath; print(alpha.__version__, fastmath.MACHINE)", str(site)],
        capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["1.0", "x86_64"]


def test_cuda_target_sets_nvidia_variables(project: Project, tmp_path: Path) -> None:
    project.targets = {"gpu": {**CPU, "cuda": "12.4", "packages": [ALPHA, NVIDIA]}}
    project.write()
    document = build(project, tmp_path / "out")
    config = unpack(tmp_path / "out", "gpu", tmp_path / "root")
    env_list = config["config"]["Env"]
    assert "NVIDIA_VISIBLE_DEVICES=all" in env_list
    assert "NVIDIA_DRIVER_CAPABILITIES=compute,utility" in env_list
    names = [x["name"] for x in document["targets"]["gpu"]["layers"]]
    assert names == ["wheel nvidia-fake-runtime-cu12 12.4.127", "1 packages",
                     "envbuild runtime and lock"]


def test_one_package_bump_rebuilds_only_its_layer(project: Project, tmp_path: Path) -> None:
    project.targets = {"cpu": {**CPU, "packages": [ALPHA, BETA, NVIDIA]}}
    project.write()
    before = build(project, tmp_path / "out")["targets"]["cpu"]
    project.targets = {"cpu": {**CPU, "packages": [ALPHA, NVIDIA,
                                                   DistSpec(name="beta", version="1.1")]}}
    project.write()
    after = build(project, tmp_path / "out")["targets"]["cpu"]
    old, new = before["layers"], after["layers"]
    assert old[0]["digest"] == new[0]["digest"]  # the nvidia layer
    assert old[1]["digest"] != new[1]["digest"]
    # The bump also changes the lock the image carries (a few kilobytes), nothing else.
    assert [x["name"] for x in new] == ["wheel nvidia-fake-runtime-cu12 12.4.127",
                                        "2 packages", "envbuild runtime and lock"]
    assert old[2]["digest"] != new[2]["digest"]
    assert after["rebuilt_layers"] == 2
    again = build(project, tmp_path / "out2")["targets"]["cpu"]
    assert again["rebuilt_layers"] == 0
    assert again["digest"] == after["digest"]
    # The nvidia wheel was not even read: its layer came from the cache by its inputs.
    assert project.server.downloads(NVIDIA.wheel_filename) == 1


def test_tampered_wheel_exits_1_and_leaves_nothing(project: Project, tmp_path: Path) -> None:
    project.write(tamper="beta")
    out = tmp_path / "out"
    result = run_cli(["image", "-f", str(project.manifest), "--output", f"oci:{out}"])
    assert result.code == 1, result.err
    assert "beta: beta-1.0-py3-none-any.whl: expected sha256:" in result.err
    assert ", got sha256:" in result.err
    assert "Traceback" not in result.err
    assert not out.exists()
    cache = tmp_path / "cache"
    assert not list((cache / "wheels").rglob("beta-*"))
    assert not list((cache / "tmp").iterdir())
    assert not list(tmp_path.glob(".out.*"))


def test_existing_layout_is_kept_when_a_build_fails(project: Project, tmp_path: Path) -> None:
    out = tmp_path / "out"
    build(project, out)
    before = layout_files(out)
    project.targets = {"cpu": {**CPU, "packages": [ALPHA, DistSpec(name="beta", version="9")]}}
    project.write(tamper="beta")
    assert run_cli(["image", "-f", str(project.manifest), "--output", f"oci:{out}"]).code == 1
    assert layout_files(out) == before


def _bad_wheel(folder: Path, member: str, data: bytes, *, record_ok: bool) -> DistSpec:
    spec = DistSpec(name="evil", version="1.0")
    path = build_wheel(spec, folder)
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    record_name = f"{spec.dist_info}/RECORD"
    members[member] = data
    if record_ok:
        import base64
        import hashlib

        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        members[record_name] += f"{member},sha256={digest},{len(data)}\n".encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in members.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), content)
    return spec


def test_wheel_writing_outside_its_scheme_is_refused(project: Project, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _bad_wheel(project.wheel_dir, "../../../../etc/evil", b"x", record_ok=True)
    _serve_as_is(project, monkeypatch, spec)
    result = run_cli(["image", "-f", str(project.manifest), "--output", f"oci:{tmp_path/'o'}"])
    assert result.code == 1, result.err
    assert ("evil: evil-1.0-py3-none-any.whl would write outside its install scheme: "
            "../../../../etc/evil") in result.err
    assert not (tmp_path / "o").exists()


def test_wheel_failing_its_record_is_refused(project: Project, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _bad_wheel(project.wheel_dir, "evil/__init__.py", b"changed = True\n",
                      record_ok=False)
    _serve_as_is(project, monkeypatch, spec)
    result = run_cli(["image", "-f", str(project.manifest), "--output", f"oci:{tmp_path/'o'}"])
    assert result.code == 1, result.err
    assert "evil: evil-1.0-py3-none-any.whl fails its RECORD:" in result.err
    assert "hash / size of evil/__init__.py didn't match RECORD" in result.err
    cache = tmp_path / "cache"  # checked while installing: nothing of it is left behind
    assert not (tmp_path / "o").exists()
    assert not list((cache / "tmp").iterdir())
    for blob in cache.glob("blobs/sha256/*"):  # layers built beside it (the payload) stay
        with tarfile.open(blob) as tar:
            assert not [n for n in tar.getnames() if "evil" in n]


def _serve_as_is(project: Project, monkeypatch: pytest.MonkeyPatch, spec: DistSpec) -> None:
    """Lock and serve the already-written (altered) wheel instead of rebuilding it."""
    import tests.image.project as module

    real = build_wheel
    monkeypatch.setattr(module, "build_wheel", lambda s, d: (
        d / s.wheel_filename if s.name == "evil" else real(s, d)))
    project.targets = {"cpu": {**CPU, "packages": [ALPHA, spec]}}
    project.write()


def test_offline_names_every_missing_wheel_then_builds_from_cache(
        project: Project, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli(["image", "-f", str(project.manifest), "--output", f"oci:{out}",
                      "--offline"])
    assert result.code == 3, result.err
    for spec in (ALPHA, BETA):
        assert f"{spec.project}: {spec.wheel_filename} (sha256:" in result.err
    assert "fastmath: fastmath-2.0-cp311" in result.err
    assert not out.exists()
    online = build(project, out)
    project.server.stop()
    import shutil

    for section in ("layers", "blobs"):  # force a rebuild from the cached wheels
        shutil.rmtree(tmp_path / "cache" / section)
    offline = build(project, tmp_path / "again", "--offline")
    assert offline["targets"]["cpu"]["digest"] == online["targets"]["cpu"]["digest"]
    assert offline["targets"]["cpu"]["rebuilt_layers"] == 2


def test_cache_info_and_prune(project: Project, tmp_path: Path) -> None:
    build(project, tmp_path / "out")
    info = run_cli(["cache", "info", "--json"])
    assert info.code == 0, info.err
    report = json.loads(info.out)
    assert report["sections"]["wheels"]["files"] == 3
    assert report["sections"]["blobs"]["files"] == 2  # packages, runtime and lock
    assert report["total_bytes"] > 0
    kept = run_cli(["cache", "prune"])
    assert kept.code == 0 and "removed 0 files" in kept.err
    gone = run_cli(["cache", "prune", "--all"])
    assert gone.code == 0 and "removed" in gone.err
    assert json.loads(run_cli(["cache", "info", "--json"]).out)["total_bytes"] == 0


def test_image_carries_the_runtime_and_the_nvml_binding() -> None:
    """The verifier in an image reads GPUs through the pure-Python NVML binding beside it."""
    from envbuild.image.payload import runtime_files

    files = runtime_files()
    assert "/opt/envbuild/runtime/pynvml.py" in files
    assert "/opt/envbuild/runtime/__main__.py" in files


def test_source_date_epoch_moves_the_image_not_the_wheel_layers(project: Project, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    project.targets = {"cpu": {**CPU, "packages": [ALPHA, BETA, NVIDIA]}}
    project.write()
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    first = build(project, tmp_path / "a")["targets"]["cpu"]
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000001")
    second = build(project, tmp_path / "b")["targets"]["cpu"]
    # A new commit's epoch: the wheel layers stay the same blobs (nothing to push again) ...
    assert [x["digest"] for x in first["layers"][:2]] == [x["digest"] for x in second["layers"][:2]]
    # ... while the image, whose `created` and payload layer carry the epoch, is renamed.
    assert first["image_hash"] != second["image_hash"]
    assert first["digest"] != second["digest"]
