"""A hostile-lock corpus run through every command that reads a lock.

One fixture per edit of a real lock (made by `envbuild lock` against the local index):
each command must refuse it (exit 1 when the content no longer matches its hashes, exit 2
when a value is malformed or unsafe) with its message, and a sentinel file outside the
project and the cache must survive untouched. The unsafe file names are also tried
"resealed" (every hash recomputed, as an attacker who knows the algorithm would): the value
checks refuse them all the same.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from envbuild.lockfile import codec
from envbuild.lockfile.tomlemit import dumps
from envbuild.runtime import proof
from envbuild.runtime.bundle import write_tree
from tests.helpers import run_cli
from tests.support.bases import tiny_base
from tests.support.fixtures import LocalIndex, hermetic_environ

SENTINEL_TEXT = b"notes that envbuild must never touch\n"
IMAGE = "registry.example.com/team/app@sha256:" + "1" * 64


def manifest_text(index_url: str) -> str:
    return f"""\
[project]
name = "hostile"
python = "3.11"

[dependencies]
python = ["alpha==1.0", "greeter"]

[indexes]
mirror = {{ url = "{index_url}", explicit = true }}

[targets.cpu]
platform = "linux/amd64"
sources = {{ greeter = "mirror" }}

[targets.gpu]
platform = "linux/amd64"
cuda = "12.4"
gpus = ["H100"]

[datasets.mini]
source = "data"

[image]
base = "oci:base"

[cluster]
providers = ["kubernetes", "slurm"]

[cluster.pools.gpu]
target = "gpu"
gpu = "H100"
gpus-per-node = 8
nodes = {{ min = 0, max = 2 }}

[run]
command = ["python", "-c", "print(1)"]
"""


@pytest.fixture(scope="module")
def golden(local_index: LocalIndex, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A locked project (manifest, lock, dataset) made once by the real `envbuild lock`."""
    folder = tmp_path_factory.mktemp("hostile") / "project"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "a.txt").write_text("a\n")
    tiny_base(folder / "base")
    env = hermetic_environ(cache_dir=folder.parent / "uv-cache")
    env["UV_DEFAULT_INDEX"] = local_index.url("pypi")
    env["ENVBUILD_CACHE_DIR"] = str(folder.parent / "cache")
    with pytest.MonkeyPatch.context() as patch:
        for key in list(os.environ):
            if key.startswith(("PIP_", "UV_")):
                patch.delenv(key)
        for key, value in env.items():
            patch.setenv(key, value)
        (folder / "envbuild.toml").write_text(manifest_text(local_index.url("pypi")))
        result = run_cli(["lock", "-f", str(folder / "envbuild.toml")])
        assert result.code == 0, result.err
        yield folder


def _package(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in doc["targets"]["cpu"]["packages"] if p["name"] == name)


def _edit_version(doc: dict[str, Any]) -> None:
    _package(doc, "alpha")["version"] = "9.9"


def _edit_size(doc: dict[str, Any]) -> None:
    _package(doc, "alpha")["artifact"]["size"] += 1


def _edit_hash(doc: dict[str, Any]) -> None:
    _package(doc, "alpha")["artifact"]["hash"] = "sha256:" + "0" * 64


def _edit_index(doc: dict[str, Any]) -> None:
    package = _package(doc, "alpha")
    package["index"] = "default" if package["index"] == "mirror" else "mirror"


def _edit_file_absolute(doc: dict[str, Any], sentinel: Path) -> None:
    _package(doc, "alpha")["artifact"]["file"] = str(sentinel)


def _edit_file_relative(doc: dict[str, Any], sentinel: Path) -> None:
    _package(doc, "alpha")["artifact"]["file"] = "../../../../../../.." + str(sentinel)


def _edit_added(doc: dict[str, Any]) -> None:
    extra = copy.deepcopy(_package(doc, "alpha"))
    extra["name"] = "zeta"
    extra["artifact"]["file"] = extra["artifact"]["file"].replace("alpha", "zeta", 1)
    doc["targets"]["cpu"]["packages"].append(extra)


def _edit_removed(doc: dict[str, Any]) -> None:
    doc["targets"]["cpu"]["packages"].remove(_package(doc, "greeter"))


def _edit_lock_hash_removed(doc: dict[str, Any]) -> None:
    del doc["lock-hash"]


def _edit_target_hash(doc: dict[str, Any]) -> None:
    doc["targets"]["cpu"]["hash"] = "sha256:" + "f" * 64


def _edit_dataset_listing(doc: dict[str, Any], sentinel: Path) -> None:
    doc["datasets"]["mini"]["listing"] = "../../../../../../.." + str(sentinel)


# name -> (edit, exit code, what stderr says). Exit 1: content no longer matches its hashes.
EDITS: dict[str, tuple[Callable[..., None], int, str]] = {
    "version": (_edit_version, 2, '"alpha-1.0-py3-none-any.whl" is alpha 1.0, not alpha 9.9'),
    "size": (_edit_size, 1, 'target "cpu": its content does not match its recorded hash'),
    "hash": (_edit_hash, 1, 'target "cpu": its content does not match its recorded hash'),
    "index": (_edit_index, 1, 'target "cpu": its content does not match its recorded hash'),
    "file-absolute": (_edit_file_absolute, 2, "contains a path separator"),
    "file-relative": (_edit_file_relative, 2, "contains a path separator"),
    "added-package": (_edit_added, 1, 'target "cpu": its content does not match its recorded hash'),
    "removed-package": (_edit_removed, 1, 'target "cpu": its content does not match its recorded hash'),
    "lock-hash-removed": (_edit_lock_hash_removed, 2, "missing value in 'lock-hash'"),
    "target-hash": (_edit_target_hash, 1, 'target "cpu": its content does not match its recorded hash'),
    "listing-outside": (_edit_dataset_listing, 2, "component \"..\" is not a file name in 'datasets.mini.listing'"),
}
# Unsafe values with every hash recomputed: the value checks, not the proof, refuse them.
RESEALED = ("file-absolute", "file-relative", "listing-outside")


def hostile_lock(golden: Path, folder: Path, edit: str, *, reseal: bool = False) -> Path:
    """A copy of the golden project in `folder` whose lock carries one edit."""
    project = folder / "project"
    subprocess.run(["cp", "-a", str(golden), str(project)], check=True)
    sentinel = folder / "outside" / "notes.txt"
    sentinel.parent.mkdir()
    sentinel.write_bytes(SENTINEL_TEXT)
    lock = project / "envbuild.lock"
    doc = tomllib.loads(lock.read_text())
    change, _, _ = EDITS[edit]
    if change.__code__.co_argcount == 2:
        change(doc, sentinel)
    else:
        change(doc)
    if reseal:
        reseal_document(doc)
    lock.write_text(dumps(doc, header=codec.HEADER, inline=frozenset({"artifact"})))
    return project


def reseal_document(doc: dict[str, Any]) -> None:
    """Recompute every hash of a lock document, as an attacker who read the README would."""
    for table in doc["targets"].values():
        table["hash"] = proof.target_hash(table)
    doc["lock-hash"] = proof.lock_hash(doc)


def commands(project: Path) -> dict[str, list[str]]:
    manifest, lock = str(project / "envbuild.toml"), str(project / "envbuild.lock")
    return {
        "lock --check": ["lock", "--check", "-f", manifest],
        "show": ["show", "-f", manifest],
        "export": ["export", "-f", manifest, "--format", "requirements"],
        "export pylock": ["export", "-f", manifest, "--format", "pylock"],
        "image": ["image", "-f", manifest, "--offline", "--output", f"oci:{project / 'img'}"],
        "verify": ["verify", "-f", manifest, "--target", "cpu", "--no-hardware"],
        "run": ["run", "-f", manifest, "--target", "cpu", "--no-hardware", "--", sys.executable, "-c",
                "print(1)"],
        "cluster": ["cluster", "-f", manifest, "-o", str(project / "out"), "--image", IMAGE],
        "data verify": ["data", "verify", "--lock", lock, "mini", "--path", str(project / "data")],
        "data pull": ["data", "pull", "--lock", lock, "--to", str(project / "pulled")],
        "diff": ["diff", "--exit-code", str(project.parent / "golden.lock"), lock],
    }


CASES = [(edit, False) for edit in EDITS] + [(edit, True) for edit in RESEALED]


@pytest.mark.parametrize(("edit", "reseal"), CASES, ids=[f"{e}{'-resealed' if r else ''}" for e, r in CASES])
def test_every_command_refuses_the_edited_lock(edit: str, reseal: bool, golden: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    project = hostile_lock(golden, tmp_path, edit, reseal=reseal)
    (tmp_path / "golden.lock").write_bytes((golden / "envbuild.lock").read_bytes())
    cache = tmp_path / "cache"
    monkeypatch.setenv("ENVBUILD_CACHE_DIR", str(cache))
    monkeypatch.setenv("ENVBUILD_RUN_RECORD", str(tmp_path / "record.json"))
    _, code, words = EDITS[edit]
    if reseal:
        code = 2
    for name, argv in commands(project).items():
        result = run_cli(argv)
        said = result.out + result.err if name == "diff" else result.err
        assert result.code == code, f"{name}: exit {result.code}\n{result.err}"
        assert words in said, f"{name}: {said}"
        assert "internal error" not in said and "Traceback" not in said, name
    # The image's own verifier (standard library only) refuses it the same way.
    bundle = write_tree(tmp_path / "runtime")
    done = subprocess.run([sys.executable, "-I", str(bundle), "verify", "--target", "cpu", "--no-hardware",
                           "--lock", str(project / "envbuild.lock")], capture_output=True, text=True,
                          check=False)
    if code == 1:
        assert done.returncode == 1, done.stderr
        assert "the lock does not prove" in done.stderr
    else:  # malformed values the portable reader does not judge must still not prove or pass
        assert done.returncode in (1, 2), done.stderr
    sentinel = tmp_path / "outside" / "notes.txt"
    assert sentinel.read_bytes() == SENTINEL_TEXT
    assert not (project / "img").exists() and not (project / "out").exists()


def test_the_golden_lock_passes_every_reader(golden: Path, tmp_path: Path) -> None:
    """The corpus is only meaningful if the unedited lock is accepted by the same commands."""
    project = tmp_path / "project"
    subprocess.run(["cp", "-a", str(golden), str(project)], check=True)
    for argv in (["lock", "--check", "-f", str(project / "envbuild.toml")],
                 ["show", "-f", str(project / "envbuild.toml"), "--json"],
                 ["data", "verify", "--lock", str(project / "envbuild.lock"), "mini",
                  "--path", str(project / "data")],
                 ["diff", "--exit-code", str(golden / "envbuild.lock"), str(project / "envbuild.lock")]):
        result = run_cli(argv)
        assert result.code == 0, f"{argv}: {result.err}"
    shown = json.loads(run_cli(["show", "-f", str(project / "envbuild.toml"), "--json"]).out)
    assert shown["targets"]["cpu"]["packages"] == 3  # alpha, its dependency beta, greeter


def _edit_target_python(doc: dict[str, Any]) -> None:
    doc["targets"]["cpu"]["python"] = "3.12"


def _edit_pin(doc: dict[str, Any]) -> None:
    package = _package(doc, "alpha")
    package["version"] = "1.1"
    package["artifact"]["file"] = package["artifact"]["file"].replace("-1.0-", "-1.1-")


def _edit_dataset_source(doc: dict[str, Any]) -> None:
    doc["datasets"]["mini"]["source"] = "/etc"


def _edit_requirements(doc: dict[str, Any]) -> None:
    doc["targets"]["cpu"]["requirements"] = ["alpha==1.0"]


STALE: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "target-python": (_edit_target_python, 'target "cpu": the lock records python 3.12, the manifest says 3.11'),
    "pin": (_edit_pin, 'target "cpu": alpha 1.1 is locked, the manifest requires ==1.0'),
    "dataset-source": (_edit_dataset_source, "dataset mini: the lock records source '/etc', the manifest says "
                                             "'data'"),
    "requirements": (_edit_requirements, "target \"cpu\": the lock records requirements ['alpha==1.0'], the "
                                         "manifest says ['alpha==1.0', 'greeter']"),
}


@pytest.mark.parametrize("edit", sorted(STALE))
def test_lock_check_compares_every_recorded_value_with_the_manifest(edit: str, golden: Path, tmp_path: Path) -> None:
    """An edit whose hashes were recomputed proves, and its values are each well formed: only
    the manifest can say it is wrong. `lock --check` (what CI runs) does, offline."""
    project = tmp_path / "project"
    subprocess.run(["cp", "-a", str(golden), str(project)], check=True)
    lock = project / "envbuild.lock"
    doc = tomllib.loads(lock.read_text())
    change, reason = STALE[edit]
    change(doc)
    reseal_document(doc)
    lock.write_text(dumps(doc, header=codec.HEADER, inline=frozenset({"artifact"})))
    assert run_cli(["show", "-f", str(project / "envbuild.toml")]).code == 0  # it proves
    result = run_cli(["lock", "--check", "-f", str(project / "envbuild.toml")])
    assert result.code == 1, result.err
    assert f"  - {reason}\n" in result.err


def test_a_removed_dependency_is_refused_even_resealed(golden: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    subprocess.run(["cp", "-a", str(golden), str(project)], check=True)
    lock = project / "envbuild.lock"
    doc = tomllib.loads(lock.read_text())
    packages = doc["targets"]["cpu"]["packages"]
    packages.remove(_package(doc, "beta"))
    reseal_document(doc)
    lock.write_text(dumps(doc, header=codec.HEADER, inline=frozenset({"artifact"})))
    result = run_cli(["show", "-f", str(project / "envbuild.toml")])
    assert result.code == 2
    assert '"beta", a dependency of alpha, is not locked in \'targets.cpu.packages[0].dependencies\'' in result.err
