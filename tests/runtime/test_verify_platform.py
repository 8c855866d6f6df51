"""`envbuild verify` checks the platform: OS and machine, Python, glibc floor, wheel tags."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from envbuild.runtime.bundle import write_zipapp
from envbuild.runtime.environment import installed
from envbuild.runtime.platformcheck import check_wheel_tags
from envbuild.runtime.target import spec_from_table
from tests.helpers import run_cli
from tests.runtime.envs import (
    BASE,
    FOREIGN_PLATFORM,
    HOST_PLATFORM,
    PY,
    clean_environ,
    pip_env,
    site_packages,
    target,
    write_lock,
)
from tests.support.wheelfactory import DistSpec, build_wheel

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="glibc and Linux wheel tags")
CP = f"cp{PY.replace('.', '')}"
HOST_GLIBC = platform.libc_ver()[1]
# The wheel-tag machine of this host and of the other Linux machine.
HOST_TAG_MACHINE = "x86_64" if HOST_PLATFORM.endswith("amd64") else "aarch64"
FOREIGN_TAG_MACHINE = "aarch64" if HOST_TAG_MACHINE == "x86_64" else "x86_64"


def verify_cli(lock: Path, python: Path, *extra: str) -> tuple[int, str, str]:
    result = run_cli(["verify", "--lock", str(lock), "--python", str(python), *extra])
    return result.code, result.out, result.err


def test_environment_of_another_machine_fails_naming_the_platform(
        tmp_path: Path, golden_venv: Path) -> None:
    lock = write_lock(tmp_path / "envbuild.lock", target("cpu", BASE, platform=FOREIGN_PLATFORM))
    code, out, err = verify_cli(lock, golden_venv)
    assert code == 1
    assert err.splitlines()[1:] == [
        "target cpu: 1 mismatch",
        f"  platform: this environment is {HOST_PLATFORM}, target cpu is {FOREIGN_PLATFORM}"]
    code, out, _ = verify_cli(lock, golden_venv, "--json")
    verdict = json.loads(out)
    assert (code, verdict["ok"]) == (1, False)
    assert verdict["mismatches"] == [{
        "kind": "platform", "package": None,
        "detail": f"this environment is {HOST_PLATFORM}, target cpu is {FOREIGN_PLATFORM}"}]
    assert verdict["facts"]["platform"] == HOST_PLATFORM
    assert verdict["facts"]["glibc"] == HOST_GLIBC
    assert verdict["facts"]["implementation"] == "cpython"
    # The image's own verifier (the bundle, run by the environment's python) says the same.
    bundle = write_zipapp(tmp_path / "envbuild-runtime.pyz")
    done = subprocess.run([str(golden_venv), "-I", str(bundle), "verify", "--lock", str(lock),
                           "--json"], capture_output=True, text=True, env=clean_environ())
    assert done.returncode == 1
    assert json.loads(done.stdout)["mismatches"] == verdict["mismatches"]


def test_glibc_older_than_the_targets_floor_fails(tmp_path: Path, golden_venv: Path) -> None:
    lock = write_lock(tmp_path / "envbuild.lock", target("cpu", BASE, glibc="2.99"))
    code, _, err = verify_cli(lock, golden_venv)
    assert code == 1
    assert err.splitlines()[-1] == f"  glibc: glibc {HOST_GLIBC} is older than target cpu's floor 2.99"


def test_glibc_floor_at_or_below_the_hosts_passes(tmp_path: Path, golden_venv: Path) -> None:
    lock = write_lock(tmp_path / "envbuild.lock", target("cpu", BASE, glibc=HOST_GLIBC))
    assert verify_cli(lock, golden_venv)[0] == 0


def test_wheel_of_another_machine_installed_is_named(tmp_path: Path, venv: Path) -> None:
    # `pip install --platform` (or a venv copied between machines) puts another machine's
    # wheel in place; its name and version match the lock, its WHEEL tags do not.
    tag = f"{CP}-{CP}-manylinux_2_17_{FOREIGN_TAG_MACHINE}"
    wheel = build_wheel(DistSpec(name="native-ext", version="1.0", tag=tag), tmp_path / "wheels")
    subprocess.run([str(venv), "-m", "pip", "--isolated", "install", "-q", "--no-deps",
                    "--only-binary", ":all:", "--platform", f"manylinux_2_17_{FOREIGN_TAG_MACHINE}",
                    "--target", str(site_packages(venv)), str(wheel)], check=True, env=pip_env())
    lock = write_lock(tmp_path / "envbuild.lock", target("cpu", {**BASE, "native-ext": "1.0"}))
    code, _, err = verify_cli(lock, venv)
    assert code == 1
    assert err.splitlines()[1:] == [
        "target cpu: 1 mismatch",
        f"  wheel-tag: native-ext: installed from a wheel tagged {tag}, which does not run on "
        f"target cpu ({HOST_PLATFORM}, Python {PY})"]


def test_wheel_of_this_machine_installed_passes(tmp_path: Path, venv: Path) -> None:
    tag = f"{CP}-{CP}-manylinux_2_17_{HOST_TAG_MACHINE}.manylinux2014_{HOST_TAG_MACHINE}"
    wheel = build_wheel(DistSpec(name="native-ext", version="1.0", tag=tag), tmp_path / "wheels")
    subprocess.run([str(venv), "-m", "pip", "--isolated", "install", "-q", "--no-deps", str(wheel)],
                   check=True, env=pip_env())
    lock = write_lock(tmp_path / "envbuild.lock", target("cpu", {**BASE, "native-ext": "1.0"}))
    assert verify_cli(lock, venv)[0] == 0


@pytest.mark.parametrize(("platform_", "glibc", "tag", "runs"), [
    ("linux/amd64", "2.28", "py3-none-any", True),
    ("linux/amd64", "2.28", "py2.py3-none-any", True),
    ("linux/amd64", "2.28", "py2-none-any", False),
    ("linux/amd64", "2.28", "cp311-abi3-manylinux_2_17_x86_64", True),
    ("linux/amd64", "2.28", "cp38-abi3-manylinux2014_x86_64", True),
    ("linux/amd64", "2.28", "cp312-abi3-manylinux_2_17_x86_64", False),
    ("linux/amd64", "2.28", "cp311-cp311-linux_x86_64", True),
    ("linux/amd64", "2.28", "cp312-cp312-manylinux_2_17_x86_64", False),
    ("linux/amd64", "2.28", "cp311-cp311-manylinux_2_34_x86_64", False),  # above the floor
    ("linux/amd64", "2.28", "cp311-cp311-musllinux_1_2_x86_64", False),
    ("linux/amd64", "2.28", "cp311-cp311-win_amd64", False),
    ("linux/amd64", "2.28", "pp310-pypy310_pp73-manylinux_2_17_x86_64", False),
    ("linux/arm64", "2.28", "cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64", True),
    ("linux/arm64", "2.28", "cp311-cp311-manylinux_2_17_x86_64", False),
    ("darwin/arm64", "2.28", "cp311-cp311-macosx_10_9_universal2", True),
    ("darwin/arm64", "2.28", "cp311-cp311-macosx_11_0_x86_64", False),
    ("darwin/amd64", "2.28", "cp311-cp311-macosx_10_9_x86_64", True),
    ("darwin/amd64", "2.28", "cp311-cp311-manylinux_2_17_x86_64", False),
])
def test_wheel_tags_are_judged_against_the_target(tmp_path: Path, platform_: str, glibc: str,
                                                  tag: str, runs: bool) -> None:
    meta = tmp_path / "site" / "demo-1.0.dist-info"
    meta.mkdir(parents=True)
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n")
    interpreter, abi, plat = tag.split("-")
    (meta / "WHEEL").write_text("Wheel-Version: 1.0\nRoot-Is-Purelib: false\n" + "".join(
        f"Tag: {i}-{a}-{p}\n" for i in interpreter.split(".") for a in abi.split(".")
        for p in plat.split(".")))
    spec = spec_from_table(name="t", table={"hash": "sha256:0", "python": "3.11",
                                            "platform": platform_, "glibc": glibc},
                           lock_hash=None, datasets={}, source="test")
    found = check_wheel_tags(spec, installed([str(tmp_path / "site")]).values())
    assert [m.package for m in found] == ([] if runs else ["demo"])
