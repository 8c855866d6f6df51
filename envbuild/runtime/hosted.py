"""The envbuild side of verify and run: the lock through `envbuild.lockfile`, datasets
through `envbuild.data`, other interpreters through the bundle. Not portable (not bundled).

The portable verifier gets the same target table either way, so `envbuild verify` and an
image's own verifier give the same verdicts on the same environment.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envbuild.errors import CheckFailed, ExternalError, InputError
from envbuild.paths import cache_dir
from envbuild.runtime.target import (
    LockNotProved,
    RuntimeInputError,
    TargetSpec,
    choose_target,
    payload,
    spec_from_payload,
)
from envbuild.runtime.verdict import Mismatch, Verdict
from envbuild.runtime.verifier import VerifyOptions, no_hardware_requested
from envbuild.scrub import escape

if TYPE_CHECKING:
    from envbuild.runtime.runner import RunOutcome


@dataclass(frozen=True, kw_only=True, slots=True)
class VerifyRequest:
    lock_path: Path
    manifest_path: Path
    target: str | None = None
    deep: bool = False
    no_hardware: bool = False
    lock_hash: str | None = None
    python: Path | None = None  # None: the venv `envbuild sync` makes, else envbuild's own
    allow: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class RunRequest:
    verify: VerifyRequest
    command: tuple[str, ...]
    record_path: Path | None = None


def verify_lock(request: VerifyRequest, environ: Mapping[str, str]) -> tuple[TargetSpec, Verdict]:
    """Verify an environment against the lock: `request.python`'s, else the venv `envbuild
    sync` makes when it exists, else this interpreter's (see `checked_python`)."""
    python, note = checked_python(request)
    return _verify(request, python, note, environ)


def checked_python(request: VerifyRequest) -> tuple[Path | None, str | None]:
    """The interpreter whose environment is checked (None: envbuild's own) and, when the
    user did not name it, a note saying which one it is.

    Without --python the project's environment is the venv `envbuild sync` made beside the
    manifest; envbuild's own interpreter holds envbuild's dependencies, which no project
    locks, so checking it after a sync would fail on every one of them.
    """
    if request.python is not None:
        return request.python, None
    from envbuild.sync.interpreter import default_venv, is_venv, venv_python

    folder = default_venv(request.manifest_path)
    if not is_venv(folder):
        return None, None
    python = venv_python(folder)
    return python, (f"checking {python} (the virtual environment `envbuild sync` makes); "
                    "--python names another")


def failure_hint(request: VerifyRequest, verdict: Verdict) -> str | None:
    """When envbuild's own interpreter was checked by default and holds unlocked
    distributions (most likely envbuild's own), how to check the project's environment."""
    if request.python is not None or not any(m.kind == "unlocked" for m in verdict.mismatches):
        return None
    from envbuild.sync.interpreter import default_venv, is_venv, venv_python

    folder = default_venv(request.manifest_path)
    if is_venv(folder):
        return None  # it was checked, not envbuild's own
    return (f"no --python was given and there is no {folder} beside the manifest, so "
            f"envbuild's own interpreter ({sys.executable}) was checked; make the project's "
            f"environment with `envbuild sync`, or name it with --python {venv_python(folder)}")


def _verify(request: VerifyRequest, python: Path | None, note: str | None,
            environ: Mapping[str, str]) -> tuple[TargetSpec, Verdict]:
    document = _target_document(request, environ)
    spec = _spec(document)
    options = VerifyOptions(deep=request.deep,
                            no_hardware=no_hardware_requested(request.no_hardware, environ),
                            allow=(*VerifyOptions().allow, *request.allow),
                            lock_hash=request.lock_hash)
    if python is not None:
        verdict = _verify_in(python, document, options, request.allow, environ)
    else:
        from envbuild.runtime.verifier import verify

        try:
            verdict = verify(spec, options, environ=environ)
        except RuntimeInputError as error:  # an unreadable recorded NVML probe
            raise InputError(str(error)) from None
    if note is not None:  # first: it says what every line after it is about
        verdict = replace(verdict, notes=(note, *verdict.notes))
    mismatches, notes = check_datasets(spec, request.lock_path, request.manifest_path.parent)
    return spec, verdict.with_extra(mismatches, notes)


def run_locked(request: RunRequest, environ: Mapping[str, str]) -> tuple[Verdict, RunOutcome]:
    """Verify, then run the command under the manifest's determinism profile."""
    python, note = checked_python(request.verify)
    spec, verdict = _verify(request.verify, python, note, environ)
    profile, seed = run_settings(request.verify.manifest_path, environ)
    from envbuild.runtime.record import default_record_path
    from envbuild.runtime.runner import RunOptions, execute

    options = RunOptions(command=request.command, determinism=profile, seed=seed,
                         record_path=request.record_path or default_record_path(environ))
    if python is not None:
        # The command runs in the environment that was verified: its bin folder comes first,
        # absolute (a command that changes folder must still find it) but not resolved (a
        # venv's python is a symlink to the base interpreter's, whose folder is not the venv's).
        bin_dir = str(python.absolute().parent)
        environ = {**environ, "PATH": os.pathsep.join([bin_dir, environ.get("PATH", "")])}
    return verdict, execute(spec, verdict, options, environ=environ)


def run_settings(manifest_path: Path, environ: Mapping[str, str]) -> tuple[str, int]:
    """`[run] determinism` (default "strict") and `[run] seed` (else $ENVBUILD_SEED, else 0)."""
    from envbuild.runtime.determinism import SEED_ENV, UnknownProfile, profile_env

    table: Any = {}
    if manifest_path.is_file():
        from envbuild.inputfiles import parse_toml, read_input_text

        text = read_input_text(manifest_path, what="manifest")
        table = parse_toml(text, source=str(manifest_path), what="manifest").get("run", {})
    if not isinstance(table, dict):
        raise InputError(f"{manifest_path}: expected a table in 'run'")
    profile = table.get("determinism", "strict")
    seed = table.get("seed", environ.get(SEED_ENV) or 0)
    try:
        profile_env(str(profile), 0)
        return str(profile), int(seed)
    except UnknownProfile as error:
        raise InputError(f"{manifest_path}: run.determinism: {error}") from None
    except (TypeError, ValueError):
        raise InputError(f"{manifest_path}: run.seed: expected an integer, got {seed!r}") from None


def check_datasets(spec: TargetSpec, lock_path: Path,
                   manifest_dir: Path) -> tuple[list[Mismatch], list[str]]:
    """Each dataset with a `mount` checked there by `envbuild.data`; an absent mount is a note."""
    mismatches: list[Mismatch] = []
    notes: list[str] = []
    for name, table in sorted(spec.datasets.items()):
        if not table.get("mount"):
            continue
        mount = Path(str(table["mount"]))
        if not mount.exists():
            notes.append(f"dataset {name}: nothing at its mount path {mount}; not checked")
            continue
        from envbuild.data import verify as data_verify  # only where there is data to check

        options = data_verify.VerifyOptions(lock_path=lock_path, manifest_dir=manifest_dir,
                                            names=(name,), path=mount)
        for result in data_verify.verify_datasets(options, progress=lambda _: None):
            if result.ok:
                continue
            what = [f"missing {p}" for p in result.missing] + [f"extra {p}" for p in result.extra]
            what += [f"changed {c.path}" for c in result.changed]
            shown = ", ".join(what[:5]) + (f" and {len(what) - 5} more" if len(what) > 5 else "")
            mismatches.append(Mismatch(kind="dataset", package=None,
                                       detail=f"{name} at {mount} differs from its locked digest "
                                              f"{table.get('digest')}: {shown}"))
    return mismatches, notes


def _target_document(request: VerifyRequest, environ: Mapping[str, str]) -> dict[str, Any]:
    from envbuild.lockfile import load
    from envbuild.lockfile.codec import target_table

    lock = load(request.lock_path)
    try:
        name = choose_target(sorted(lock.targets), request.target, environ,
                             source=str(request.lock_path))
    except RuntimeInputError as error:
        raise InputError(str(error), hint="list them with `envbuild show`") from None
    return payload(target_table(lock.targets[name]), name=name, lock_hash=lock.lock_hash, datasets=lock.datasets)


def _spec(document: dict[str, Any]) -> TargetSpec:
    try:
        return spec_from_payload(document, source="envbuild.lock")
    except RuntimeInputError as error:
        raise InputError(str(error)) from None
    except LockNotProved as error:
        raise CheckFailed(str(error)) from None


def _verify_in(python: Path, document: dict[str, Any], options: VerifyOptions,
               allow: tuple[str, ...], environ: Mapping[str, str]) -> Verdict:
    """Run the portable verifier inside `python` (as `pip --python` does) and read its verdict."""
    if not os.access(python, os.X_OK) or python.is_dir():
        raise InputError(f"--python {python}: not an executable interpreter")
    from envbuild.runtime.bundle import cached_tree
    from envbuild.scratch import scratch_dir

    args = ["verify", "--target-json", "-", "--json", "--no-system",  # a host's packages
            *(["--deep"] if options.deep else []),
            *(["--no-hardware"] if options.no_hardware else []),
            *(a for name in allow for a in ("--allow", name)),
            *(["--lock-hash", options.lock_hash] if options.lock_hash else [])]
    try:
        bundle = cached_tree(cache_dir(), lambda: scratch_dir("runtime"))
    except OSError as error:
        raise ExternalError(f"cannot write the verifier into the cache: {error}",
                            hint="set ENVBUILD_CACHE_DIR to a writable folder") from None
    try:
        # By absolute path (not resolved: a venv's python is a symlink that must stay one):
        # `--python py` names the file here, never a `py` found on PATH.
        done = subprocess.run([str(python.absolute()), "-I", str(bundle), *args], env=dict(environ),
                              input=json.dumps(document), capture_output=True, text=True,
                              check=False)
    except OSError as error:
        raise InputError(f"--python {python}: cannot run it: {error}") from None
    if done.returncode == 2 and done.stderr.startswith("error: "):  # the verifier's bad input
        raise InputError(f"--python {python}: {escape(done.stderr.strip().removeprefix('error: '))}")
    if done.returncode in (0, 1):
        try:
            return Verdict.from_json(json.loads(done.stdout))
        except (ValueError, KeyError, TypeError, AttributeError):
            pass  # no verdict: which kind of failure is told by asking the interpreter below
    raise _no_verdict(python, done, environ)


def _no_verdict(python: Path, done: subprocess.CompletedProcess[str],
                environ: Mapping[str, str]) -> InputError | ExternalError:
    """Bad input when `python` is no Python 3.11+ (/bin/true, a script, Python 3.8);
    an external failure when it is one and the verifier still gave no verdict."""
    version = _python_version(python, environ)
    if version is not None and version[:2] >= (3, 11):
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return ExternalError(f"--python {python}: the verifier exited {done.returncode} "
                             f"without a verdict: {escape(tail[:200])}")
    if version is not None:
        what = f"it is Python {'.'.join(map(str, version))}"
    else:
        shown = (done.stderr.strip() or done.stdout.strip()).splitlines()
        what = (f"it exited {done.returncode} and printed {shown[-1][:80]!r}"
                if shown else f"it exited {done.returncode} with no output")
    return InputError(f"--python {python}: not a Python 3.11+ interpreter ({what})",
                      hint="give the python of the virtual environment to check, "
                           "e.g. --python .venv/bin/python")


def _python_version(python: Path, environ: Mapping[str, str]) -> tuple[int, ...] | None:
    """The version `python` reports, asked the way every Python since 2.x answers; None
    when it is no Python. Only asked after a failure, so a good run pays nothing for it."""
    script = "import sys; sys.stdout.write('%d.%d.%d' % tuple(sys.version_info[:3]))"
    try:
        done = subprocess.run([str(python.absolute()), "-E", "-s", "-c", script], env=dict(environ),
                              capture_output=True, text=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", done.stdout.strip())
    return tuple(int(x) for x in found.groups()) if found and done.returncode == 0 else None


