"""The verifier's conda check, run as images run it (the portable bundle, `-I`), against a
prefix linked by envbuild's own conda installer."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from envbuild.image.conda.install import install_conda
from envbuild.lockfile.codec import target_table
from envbuild.lockfile.model import CondaPackage
from envbuild.runtime import proof
from envbuild.runtime.bundle import write_zipapp
from tests.image.conda.archives import Member, hand_made, locked
from tests.runtime.envs import target
from tests.support.conda_channel import CondaChannel, CondaFile, CondaSpec

TOOL = CondaSpec(name="tool", version="2.1", build="h1_0", files=(
    CondaFile("bin/tool", "#!/bin/sh\necho tool\n", executable=True),))
LIBS = CondaSpec(name="libs", version="1.0", build="0", files=(CondaFile("lib/libs.txt", "x"),))


@dataclasses.dataclass
class Env:
    prefix: Path
    conda: list[CondaPackage]
    folder: Path
    stdout: str = ""

    def verify(self, *extra: str, conda: list[CondaPackage] | None = None,
               prefix: str | None = None) -> tuple[int, str]:
        """Run the bundle's verify for a `cpu` target locking `conda`; (exit, stderr)."""
        spec = target("cpu", {})
        table = target_table(spec)
        table["conda"] = [{"name": p.name, "version": p.version, "build": p.build,
                           "subdir": p.subdir, "channel": p.channel, "file": p.file,
                           "size": p.size, "hash": p.hash, "md5": p.md5,
                           "dependencies": list(p.dependencies)}
                          for p in (self.conda if conda is None else conda)]
        table["hash"] = proof.target_hash(table)
        document = self.folder / "target.json"
        document.write_text(json.dumps({"target": "cpu", "table": table, "lock_hash": None,
                                        "datasets": {}}))
        bundle = write_zipapp(self.folder / "runtime.pyz", include_pynvml=False)
        env = {"CONDA_PREFIX": str(self.prefix) if prefix is None else prefix,
               "PYTHONPATH": str(self.prefix / "lib/python3.11/site-packages")}
        done = subprocess.run([sys.executable, "-I", "-S", str(bundle), "verify", "--target-json",
                               str(document), "--no-hardware", *extra],
                              capture_output=True, text=True, env=env)
        self.stdout = done.stdout
        return done.returncode, done.stderr.replace(table["hash"], "HASH")


@pytest.fixture
def env(tmp_path: Path) -> Env:
    channel = CondaChannel(tmp_path / "channel")
    packages = [(locked(path, spec), path) for spec in (TOOL, LIBS) for path in [channel.add(spec)]]
    dist, dist_spec = hand_made(tmp_path / "hand", [
        Member(name="lib/python3.11/site-packages/condadist-1.0.dist-info/METADATA",
               data=b"Metadata-Version: 2.1\nName: condadist\nVersion: 1.0\n\n"),
        Member(name="lib/python3.11/site-packages/condadist/__init__.py", data=b"")],
        name="condadist")
    packages.append((locked(dist, dist_spec), dist))
    root = tmp_path / "stage" / "root"
    root.mkdir(parents=True)
    install_conda(root, packages, python="3.11")
    return Env(prefix=root / "opt/conda", conda=[p for p, _ in packages], folder=tmp_path)


OK = "note: target cpu is a CPU target: hardware not checked\nverified: target cpu (HASH)\n"
NOTE = "note: target cpu is a CPU target: hardware not checked\n"


def test_a_matching_prefix_passes_and_conda_s_python_distributions_are_its_own(env: Env) -> None:
    # condadist's .dist-info is on the path, but a conda package installed it: not "unlocked".
    assert env.verify("--deep") == (0, OK)
    assert env.verify("--json")[0] == 0
    assert json.loads(env.stdout)["facts"]["conda"] == {"locked": 3, "prefix": str(env.prefix)}


def test_a_missing_record_is_named(env: Env) -> None:
    (env.prefix / "conda-meta/tool-2.1-h1_0.json").unlink()
    assert env.verify() == (1, NOTE + (
        "target cpu: 1 mismatch\n"
        f"  conda-missing: tool: locked at 2.1 (h1_0), no record in {env.prefix}/conda-meta\n"))


def test_another_version_or_build_is_named(env: Env) -> None:
    conda = [dataclasses.replace(p, version="2.2", build="h2_0", file="tool-2.2-h2_0.conda")
             if p.name == "tool" else p for p in env.conda]
    assert env.verify(conda=conda) == (1, NOTE + (
        "target cpu: 1 mismatch\n"
        "  conda-version: tool: locked at 2.2 (h2_0), installed 2.1 (h1_0)\n"))


def test_another_file_of_the_same_name_is_named(env: Env) -> None:
    other = "sha256:" + "0" * 64
    conda = [dataclasses.replace(p, hash=other) if p.name == "tool" else p for p in env.conda]
    installed = next(p.hash for p in env.conda if p.name == "tool")
    assert env.verify(conda=conda) == (1, NOTE + (
        "target cpu: 1 mismatch\n"
        f"  conda-version: tool: locked as {other}, installed from {installed}\n"))


def test_an_unlocked_package_is_named(env: Env) -> None:
    conda = [p for p in env.conda if p.name != "libs"]
    assert env.verify(conda=conda) == (1, NOTE + (
        "target cpu: 1 mismatch\n"
        f"  conda-unlocked: libs: 1.0 (0) is in {env.prefix}/conda-meta but not locked\n"))


def test_deep_finds_a_modified_file(env: Env) -> None:
    (env.prefix / "bin/tool").write_text("#!/bin/sh\necho altered\n")
    assert env.verify()[0] == 0  # without --deep files are not read
    assert env.verify("--deep") == (1, NOTE + (
        "target cpu: 1 mismatch\n"
        "  file-modified: tool: bin/tool differs from its conda-meta sha256\n"))


def test_a_prefix_without_records_misses_every_package(env: Env) -> None:
    shutil.rmtree(env.prefix / "conda-meta")
    code, err = env.verify()
    assert code == 1
    # Without its record condadist's .dist-info is no conda package's: the wheel check's.
    assert err.splitlines()[1:] == [
        "target cpu: 4 mismatches",
        "  unlocked: condadist: 1.0 is installed but not locked (allow it with --allow condadist)",
        f"  conda-missing: condadist: locked at 1.0 (0), no record in {env.prefix}/conda-meta",
        f"  conda-missing: libs: locked at 1.0 (0), no record in {env.prefix}/conda-meta",
        f"  conda-missing: tool: locked at 2.1 (h1_0), no record in {env.prefix}/conda-meta",
    ]


def test_no_prefix_found_is_a_mismatch(env: Env) -> None:
    # No CONDA_PREFIX, and the interpreter's own prefix holds no conda-meta/.
    code, err = env.verify(prefix="")
    assert (code, err.splitlines()[-1]) == (1, (
        "  conda-missing: 3 conda package(s) are locked but no conda prefix was found "
        "(set CONDA_PREFIX)"))
