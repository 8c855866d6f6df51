"""`envbuild export --format nix`: the expression, built by a plain `nix-build`, no nixpkgs."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
from pathlib import Path

from envbuild.lockfile import load
from tests.helpers import run_cli
from tests.image.project import Project
from tests.nix.conftest import needs_nix, raw_nix_build
from tests.support.locks import make_lock, write_lock


def export(project: Project, out: Path, *extra: str) -> dict[str, object]:
    result = run_cli(["export", "-f", str(project.manifest), "--format", "nix", "-o", str(out),
                      "--json", *extra])
    assert result.code == 0, result.err
    document: dict[str, object] = json.loads(result.out)
    return document


@needs_nix
def test_plain_nix_build_of_site_imports_with_the_system_python(project: Project,
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "nix"
    assert export(project, out) == {"format": "nix", "target": "cpu", "packages": 3,
                                    "output": str(out), "text": None}
    assert sorted(p.name for p in out.iterdir()) == ["default.nix", "flake.nix", "payload",
                                                      "unpack-wheels.py"]
    done = raw_nix_build(out, "site")
    assert done.returncode == 0, done.stderr
    (site_out,) = done.stdout.split()
    site = Path(site_out) / "lib/python3.11/site-packages"
    imported = subprocess.run(
        ["/usr/bin/python3", "-I", "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
         "import alpha, beta, fastmath; print(alpha.__version__, fastmath.MACHINE, "
         "alpha.__file__.startswith(sys.argv[1]))", str(site)],
        capture_output=True, text=True, check=True)
    assert imported.stdout.split() == ["1.0", "x86_64", "True"]
    lock = load(project.lock)
    installed = sorted(p.name for p in site.iterdir() if p.name.endswith(".dist-info"))
    assert installed == sorted(f"{p.name}-{p.version}.dist-info"
                               for p in lock.targets["cpu"].packages)


@needs_nix
def test_plain_nix_build_of_wheels_gives_the_locked_files(project: Project,
                                                          tmp_path: Path) -> None:
    export(project, tmp_path / "nix")
    done = raw_nix_build(tmp_path / "nix", "wheels")
    assert done.returncode == 0, done.stderr
    found = {Path(p).name.split("-", 1)[1]: "sha256:" + hashlib.sha256(Path(p).read_bytes())
             .hexdigest() for p in done.stdout.split()}
    locked = {p.artifact.file: p.artifact.hash for p in load(project.lock).targets["cpu"].packages}
    assert found == locked


@needs_nix
def test_the_flake_evaluates_to_the_same_site(project: Project, tmp_path: Path) -> None:
    out = tmp_path / "nix"
    export(project, out)
    site = raw_nix_build(out, "site")
    assert site.returncode == 0, site.stderr
    flake = subprocess.run(
        ["nix", "--experimental-features", "nix-command flakes", "eval", "--raw",
         f"path:{out}#packages.x86_64-linux.site.outPath"],
        capture_output=True, text=True, check=False)
    assert flake.returncode == 0, flake.stderr
    assert flake.stdout == site.stdout.strip()


@needs_nix
def test_a_hostile_but_lock_valid_target_name_stays_a_string(project: Project,
                                                             tmp_path: Path) -> None:
    hostile = 'x"${builtins.abort "escaped"}\'\' $${y} #'
    lock = load(project.lock)
    target = dataclasses.replace(lock.targets["cpu"], name=hostile)
    write_lock(project.lock, make_lock([target], name=lock.name, python=lock.python,
                                       indexes=lock.indexes))
    out = tmp_path / "nix"
    assert export(project, out, "--target", hostile)["target"] == hostile
    evaluated = subprocess.run(["nix-instantiate", "--eval", "--strict", "--json", str(out),
                                "-A", "target.name"],
                               capture_output=True, text=True, check=False)
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout) == hostile
    done = raw_nix_build(out, "site")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(
        '-envbuild-site-x___builtins.abort__escaped________y___')


def test_without_an_output_folder_is_refused(project: Project) -> None:
    result = run_cli(["export", "-f", str(project.manifest), "--format", "nix"])
    assert result.code == 2
    assert result.err == "error: --format nix writes a folder\nhint: give -o DIR\n"


def test_a_folder_that_is_not_an_export_is_kept(project: Project, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me\n")
    result = run_cli(["export", "-f", str(project.manifest), "--format", "nix", "-o", str(out)])
    assert result.code == 2
    assert result.err.splitlines()[0] == f"error: {out} exists and is not an envbuild Nix export"
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_an_earlier_export_is_replaced_whole(project: Project, tmp_path: Path) -> None:
    out = tmp_path / "nix"
    export(project, out)
    (out / "payload" / "stale").write_text("from an older export\n")
    export(project, out)
    assert not (out / "payload" / "stale").exists()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".nix.")]


# A stand-in for nixpkgs with the three names `image` uses: each returns its arguments, so
# evaluating `image` shows what would reach dockerTools. Nothing is built: the real
# `dockerTools.buildLayeredImage` (and so the image's bytes) is not exercised here.
STUB_PKGS = """{ python311 = "/usr"; runCommand = name: env: script: { inherit name script; };
                 dockerTools.buildLayeredImage = args: args; }"""


@needs_nix
def test_image_hands_dockertools_the_labels_lock_and_verifier(project: Project,
                                                              tmp_path: Path) -> None:
    out = tmp_path / "nix"
    export(project, out)
    # --read-write-mode: the payload folder is copied into the store, as a build would.
    done = subprocess.run(["nix-instantiate", "--eval", "--strict", "--json", "--read-write-mode",
                           "--option", "substituters", "",
                           str(out), "-A", "image", "--arg", "pkgs", STUB_PKGS],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    image = json.loads(done.stdout)
    target = load(project.lock).targets["cpu"]
    assert image["config"] == {
        "Env": ["PYTHONPATH=/lib/python3.11/site-packages", "ENVBUILD_TARGET=cpu",
                "ENVBUILD_LOCK=/opt/envbuild/envbuild.lock"],
        "Labels": {"org.envbuild.builder": "nix-dockertools",
                   "org.envbuild.python": "/bin/python3.11", "org.envbuild.target": "cpu",
                   "org.envbuild.target-hash": target.hash,
                   "org.opencontainers.image.title": "imgtest"}}
    python, root = image["contents"]
    assert python == "/usr"
    payload = next(word for word in root["script"].split() if word.endswith("-payload/."))
    carried = Path(payload.removesuffix("/.")) / "opt/envbuild"
    assert (carried / "envbuild.lock").read_bytes() == \
        (out / "payload/opt/envbuild/envbuild.lock").read_bytes()
    assert (carried / "runtime" / "__main__.py").is_file()


def test_the_header_names_the_options_a_plain_nix_build_needs(project: Project,
                                                              tmp_path: Path) -> None:
    export(project, tmp_path / "nix")
    header = (tmp_path / "nix/default.nix").read_text().split("\n{", 1)[0].splitlines()
    assert header[5:12] == [
        "# Build with `envbuild nix build` (it passes the options below), or by hand:",
        "#   nix-build . -A site --option substituters '' \\",
        "#       --option extra-sandbox-paths '/usr /lib? /lib64? /bin?' \\",
        "#       --option build-users-group ''   (only as root where no nixbld group exists)",
        "# substituters '': every output is built here, so no binary cache is waited on; the",
        "# sandbox paths: `site` runs the host's Python by absolute path (argument python), an",
        "# impure builder; build-users-group '': Nix's default group nixbld may not exist."]
