"""The interpreter a sync installs into: an existing virtual environment's, probed, or a
new venv made by uv from a host interpreter of the target's Python minor.

A sync removes every unlocked distribution, so it works only on a virtual environment:
never on a system or distribution Python, whatever `--python` names.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from envbuild.errors import ExternalError, InputError
from envbuild.scrub import scrub

# Run with -I: no PYTHON* variables, no user site; the answer is the environment's own.
_PROBE = ("import json, sys, sysconfig; print(json.dumps({"
          "'implementation': sys.implementation.name, "
          "'version': '%d.%d.%d' % sys.version_info[:3], "
          "'prefix': sys.prefix, 'base_prefix': sys.base_prefix, "
          "'site': [sysconfig.get_path('purelib'), sysconfig.get_path('platlib')]}))")


@dataclass(frozen=True, kw_only=True, slots=True)
class Interpreter:
    """A Python that runs, as it describes itself."""

    python: Path  # as given (a venv's python is a symlink that must stay one)
    implementation: str
    version: str  # "3.11.7"
    prefix: Path
    in_venv: bool
    site: tuple[str, ...]  # purelib and platlib, where installed distributions live

    @property
    def minor(self) -> str:
        return ".".join(self.version.split(".")[:2])


def uv_env() -> dict[str, str]:
    """The environment uv runs in: no activated venv decides where it installs, no
    UV_VENV_SEED adds packages the lock does not name, no progress bars in captured output."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("VIRTUAL_ENV") and k != "UV_VENV_SEED"}
    env["UV_NO_PROGRESS"] = "1"
    return env


def run_uv(args: list[str]) -> subprocess.CompletedProcess[str]:
    from envbuild.resolvers.uv import uv_binary

    try:
        return subprocess.run([uv_binary(), *args], env=uv_env(), capture_output=True, text=True,
                              check=False)
    except OSError as error:
        raise ExternalError(f"cannot run uv: {error}") from None


def relayed(done: subprocess.CompletedProcess[str]) -> str:
    """uv's message, indented under ours, without its own "error: " prefix (the CLI
    boundary escapes it with the rest of the message)."""
    lines = scrub(done.stderr.strip() or done.stdout.strip() or "no output").splitlines()
    return "\n".join("  " + line.removeprefix("error: ") for line in lines[:20])


def probe(python: Path, *, what: str) -> Interpreter:
    """Ask `python` what it is; bad input when it is no runnable Python."""
    if not os.access(python, os.X_OK) or python.is_dir():
        raise InputError(f"{what} {python}: not an executable interpreter",
                         hint="give a virtual environment's python, e.g. --python .venv/bin/python")
    try:
        done = subprocess.run([str(python.absolute()), "-I", "-c", _PROBE], capture_output=True,
                              text=True, check=False, timeout=60)
        data = json.loads(done.stdout) if done.returncode == 0 else None
    except (OSError, ValueError, subprocess.TimeoutExpired):
        data = None
    if not isinstance(data, dict):
        raise InputError(f"{what} {python}: not a Python interpreter (it could not be asked "
                         "for its version)")
    return Interpreter(python=python, implementation=str(data["implementation"]),
                       version=str(data["version"]), prefix=Path(str(data["prefix"])),
                       in_venv=data["prefix"] != data["base_prefix"],
                       site=tuple(dict.fromkeys(str(s) for s in data["site"])))


def check_fits(found: Interpreter, *, target: str, python: str, what: str, hint: str) -> None:
    """The interpreter is a venv's CPython of the target's minor, else bad input."""
    if not found.in_venv:
        raise InputError(f"{what} {found.python}: not in a virtual environment; sync removes "
                         "every distribution the lock does not name, so it only changes "
                         "virtual environments",
                         hint="sync into a new one with --venv DIR")
    if found.implementation != "cpython" or found.minor != python:
        raise InputError(f"{what} {found.python}: it is {found.implementation} {found.version}; "
                         f"target {target} is locked for CPython {python}", hint=hint)


def find_python(minor: str) -> Path:
    """A host CPython of this minor (PATH, then uv-managed ones), never a download."""
    done = run_uv(["python", "find", "--system", "--no-python-downloads", f"cpython@{minor}"])
    found = done.stdout.strip()
    if done.returncode != 0 or not found:
        raise InputError(f"no CPython {minor} interpreter on this host (looked for python{minor}, "
                         f"python3 and python on PATH, and Pythons installed by uv):\n"
                         f"{relayed(done)}",
                         hint=f"install Python {minor} (for example `uv python install {minor}`), "
                              "or pass --python with an existing virtual environment's python")
    return Path(found)


def create_venv(folder: Path, base: Path) -> None:
    """An empty venv (no pip, setuptools or wheel: the lock says what it holds)."""
    done = run_uv(["venv", "--no-config", "--no-python-downloads", "--python", str(base),
                   str(folder)])
    if done.returncode != 0:
        raise ExternalError(f"cannot create the virtual environment {folder}:\n{relayed(done)}")


def venv_python(folder: Path) -> Path:
    return folder / "bin" / "python"


def default_venv(manifest_path: Path) -> Path:
    """The venv `envbuild sync` makes when given no --venv or --python: `.venv` beside the
    manifest. `envbuild verify` and `run` check it by default, so this is the one place
    that says where it is."""
    return manifest_path.parent / ".venv"


def is_venv(folder: Path) -> bool:
    """Whether `folder` is a virtual environment (as `python -m venv` and uv make them)."""
    return (folder / "pyvenv.cfg").is_file()
