"""The standalone front end: `python envbuild-runtime verify|run|probe` (stdlib only).

This is what images run (no envbuild, no network) and what `envbuild verify --python PATH`
runs inside another interpreter. Exit codes as envbuild's: 0 ok, 1 mismatch, 2 bad input.
Arguments are parsed by hand: argparse alone costs more start-up than the whole check.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .dpkgstatus import STATUS
from .environment import DEFAULT_ALLOW
from .safetext import MAX_INPUT_BYTES, escape, read_bounded
from .target import LockNotProved, RuntimeInputError, TargetSpec, read_lock, spec_from_payload
from .verdict import Verdict
from .verifier import VerifyOptions, verify

USAGE = """\
usage: envbuild-runtime verify [--lock PATH (default $ENVBUILD_LOCK) | --target-json FILE|-] [--target T] [--deep]
                               [--no-hardware] [--no-system] [--allow NAME]... [--lock-hash H]
                               [--target-hash H] [--json]
       envbuild-runtime run (the verify options) [--record PATH] [--determinism strict|off]
                            [--seed N] -- CMD...
       envbuild-runtime probe     print this host's NVML answer (the recorded-probe format)
"""
BAD_INPUT = 2
_FLAGS = frozenset({"--deep", "--no-hardware", "--no-system", "--json"})
_VALUES = frozenset({"--lock", "--target-json", "--target", "--allow", "--lock-hash",
                     "--target-hash"})
_RUN_VALUES = frozenset({"--record", "--determinism", "--seed"})


@dataclass(frozen=True, kw_only=True, slots=True)
class Args:
    command: str
    flags: frozenset[str]
    values: dict[str, str]
    allow: tuple[str, ...] = ()
    cmd: tuple[str, ...] = field(default=())


def parse_args(argv: Sequence[str]) -> Args:
    """Parse `argv`; raises RuntimeInputError with the problem (usage errors exit 2)."""
    if not argv or argv[0] not in ("verify", "run", "probe"):
        raise RuntimeInputError("expected a command: verify, run or probe")
    command, rest = argv[0], list(argv[1:])
    valued = _VALUES | (_RUN_VALUES if command == "run" else frozenset())
    flags: set[str] = set()
    values: dict[str, str] = {}
    allow: list[str] = []
    while rest:
        word = rest.pop(0)
        if word == "--" or (command == "run" and not word.startswith("-")):
            cmd = rest if word == "--" else [word, *rest]
            return Args(command=command, flags=frozenset(flags), values=values,
                        allow=tuple(allow), cmd=tuple(cmd))
        name, eq, inline = word.partition("=")
        if name in _FLAGS and not eq and command != "probe":
            flags.add(name)
        elif name in valued:
            if not eq and not rest:
                raise RuntimeInputError(f"{name} needs a value")
            value = inline if eq else rest.pop(0)
            if name == "--allow":
                allow.append(value)
            else:
                values[name] = value
        else:
            raise RuntimeInputError(f"{command}: unknown argument {word!r}")
    return Args(command=command, flags=frozenset(flags), values=values, allow=tuple(allow))


def main(argv: Sequence[str] | None = None, *, environ: Mapping[str, str] | None = None,
         own_path: str | None = None) -> int:
    """Run one command; `own_path` (the bundle on sys.path) is left out of the scan."""
    env = os.environ if environ is None else environ
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        if args.command == "probe":
            from .nvml import probe

            sys.stdout.write(json.dumps(probe(), indent=2, sort_keys=True) + "\n")
            return 0
        spec = _spec(args, env)
        options = VerifyOptions(
            deep="--deep" in args.flags, no_hardware="--no-hardware" in args.flags,
            allow=(*DEFAULT_ALLOW, *args.allow), lock_hash=args.values.get("--lock-hash"),
            target_hash=args.values.get("--target-hash"),
            paths=_environment_paths(env, own_path),
            # Inside an image the system set is the image's; `envbuild verify --python`
            # checks a venv on a host and passes --no-system.
            dpkg_status=None if "--no-system" in args.flags else STATUS)
        verdict = verify(spec, options, environ=env)
        if args.command == "verify":
            return _report(verdict, as_json="--json" in args.flags)
        return _run(spec, verdict, args, env)
    except LockNotProved as error:
        sys.stderr.write(f"error: {escape(str(error))}\n")
        return 1
    except (RuntimeInputError, ValueError) as error:  # ValueError: a bad profile or seed
        sys.stderr.write(f"error: {escape(str(error))}\n"
                         f"{USAGE if isinstance(error, RuntimeInputError) else ''}")
        return BAD_INPUT


def _environment_paths(env: Mapping[str, str], own_path: str | None) -> tuple[str, ...]:
    """The path a command started from this environment imports from, less the bundle.

    Under `-I` (how jobs start the runner) this interpreter ignores PYTHONPATH, but the
    command it starts, and a plain `python3`, do not. So its entries count, ahead of the
    rest, as they would on the command's path. (Images keep their packages in a site
    directory, which `-I` keeps; PYTHONPATH names them only where that is not known.)
    """
    paths = [p for p in sys.path if p and p != own_path]
    if sys.flags.ignore_environment:
        paths[:0] = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    return tuple(paths)


def _run(spec: TargetSpec, verdict: Verdict, args: Args, env: Mapping[str, str]) -> int:
    from .determinism import SEED_ENV
    from .record import default_record_path
    from .runner import RunOptions, execute

    if not args.cmd:
        raise RuntimeInputError("run: no command given (... run [options] -- CMD)")
    record = args.values.get("--record")
    outcome = execute(spec, verdict, RunOptions(
        command=args.cmd, record_path=Path(record) if record else default_record_path(env),
        determinism=args.values.get("--determinism", "strict"),
        seed=int(args.values.get("--seed") or env.get(SEED_ENV) or 0)), environ=env)
    for note in verdict.notes:
        sys.stderr.write(f"note: {escape(note)}\n")
    if not verdict.ok:
        sys.stderr.write(f"{escape(verdict.render())}\n{escape(args.cmd[0])} was not started; "
                         f"run record: {outcome.record_path}\n")
        return 1
    if not outcome.started:
        sys.stderr.write(f"error: {escape(str(outcome.record.get('error')))}\n")
    elif outcome.record.get("terminated_by"):
        sys.stderr.write(f"note: {escape(outcome.record['ended'])}; run record: "
                         f"{outcome.record_path}\n")
    return outcome.exit_status if outcome.exit_status is not None else 1


def _spec(args: Args, env: Mapping[str, str]) -> TargetSpec:
    target_json = args.values.get("--target-json")
    if target_json is None:
        # Inside an image, ENVBUILD_LOCK names the lock the image carries.
        default = env.get("ENVBUILD_LOCK") or "envbuild.lock"
        return read_lock(Path(args.values.get("--lock", default)),
                         args.values.get("--target"), env)
    source = "stdin" if target_json == "-" else target_json
    try:
        data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1) if target_json == "-" \
            else read_bounded(source)
        if len(data) > MAX_INPUT_BYTES:
            raise OSError(f"more than the {MAX_INPUT_BYTES} bytes envbuild reads")
        return spec_from_payload(json.loads(data.decode("utf-8")), source=source)
    except (OSError, ValueError, RecursionError) as error:  # json.loads recurses
        raise RuntimeInputError(f"{source}: cannot read the target document: {error}") from None


def _report(verdict: Verdict, *, as_json: bool) -> int:
    if as_json:
        sys.stdout.write(json.dumps(verdict.as_json(), indent=2, sort_keys=True) + "\n")
    for note in verdict.notes:
        sys.stderr.write(f"note: {escape(note)}\n")
    sys.stderr.write(escape(verdict.render()) + "\n")
    return 0 if verdict.ok else 1
