"""The one target a verification checks, read from the lock with nothing but `tomllib`.

The lock's full reader is `envbuild.lockfile`; this one reads only the keys the verifier
needs, so that it can run in an image without envbuild installed. Both hand the same
target table (`targets.NAME` of the lock) to `spec_from_table`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .conda import LockedConda

TYPE_CHECKING = False  # typing itself is not imported: start-up time
if TYPE_CHECKING:
    from typing import Any

TARGET_ENV = "ENVBUILD_TARGET"


class RuntimeInputError(Exception):
    """Bad input to the verifier or the runner (exit 2): a lock, a target, an option."""


class LockNotProved(Exception):
    """The lock's content does not match its recorded hashes (exit 1)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class LockedDist:
    name: str  # normalised as the lock writes it
    version: str


@dataclass(frozen=True, kw_only=True, slots=True)
class LockedDeb:
    """One Debian package of the target's system set (`[[targets.NAME.system]]`)."""

    name: str
    version: str
    architecture: str


@dataclass(frozen=True, kw_only=True, slots=True)
class TargetSpec:
    """The facts of one locked target that an environment and a host are checked against."""

    name: str
    hash: str
    lock_hash: str | None
    python: str
    cuda: str | None
    gpus: tuple[str, ...]
    driver_floor: str | None
    packages: tuple[LockedDist, ...]
    hardware: tuple[dict[str, Any], ...]  # the hardware-data rows the lock consulted
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
    platform: str | None = None  # "linux/amd64"; None: not recorded, not checked
    glibc: str | None = None  # the oldest glibc the target's wheels need ("2.28")
    conda: tuple[LockedConda, ...] = ()  # the target's conda packages (`conda.py`)
    system: tuple[LockedDeb, ...] = ()  # the locked Debian packages (dpkgstatus.py)

    @property
    def needs_gpu(self) -> bool:
        return self.cuda is not None or bool(self.gpus)


def choose_target(names: list[str], requested: str | None, environ: Mapping[str, str],
                  *, source: str) -> str:
    """`requested`, else $ENVBUILD_TARGET, else the lock's only target."""
    wanted = requested or environ.get(TARGET_ENV) or None
    if wanted is not None:
        if wanted not in names:
            raise RuntimeInputError(f"{source}: no target {wanted!r} (targets: "
                                    f"{', '.join(sorted(names)) or 'none'})")
        return wanted
    if len(names) == 1:
        return names[0]
    raise RuntimeInputError(f"{source}: the lock has {len(names)} targets "
                            f"({', '.join(sorted(names))}); choose one with --target")


def read_lock(path: Path, requested: str | None, environ: Mapping[str, str]) -> TargetSpec:
    """Read the lock at `path` and return the chosen target's spec."""
    import tomllib  # imported here: `--target-json` runs, the fast path, never parse TOML

    from .safetext import read_bounded

    try:
        data = tomllib.loads(read_bounded(str(path)).decode("utf-8"))
    except FileNotFoundError:
        raise RuntimeInputError(f"{path}: no lock file") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError) as error:
        raise RuntimeInputError(f"{path}: cannot read the lock: {error}") from None
    return spec_from_lock_document(data, requested, environ, source=str(path))


def spec_from_lock_document(data: Mapping[str, Any], requested: str | None,
                            environ: Mapping[str, str], *, source: str) -> TargetSpec:
    """The chosen target of a whole lock (or an image's one-target lock), proved first:
    every target hash, and the lock hash where the document has one."""
    from .proof import prove_document

    targets = data.get("targets")
    if not isinstance(targets, dict):
        raise RuntimeInputError(f"{source}: expected a table in 'targets'")
    failures = prove_document(data)  # before anything of it is used, even a target's name
    if failures:
        raise _not_proved(source, failures)
    name = choose_target(sorted(targets), requested, environ, source=source)
    lock_hash = data.get("lock-hash")
    datasets = data.get("datasets", {})
    return spec_from_table(name=name, table=targets[name],
                           lock_hash=lock_hash if isinstance(lock_hash, str) else None,
                           datasets=datasets if isinstance(datasets, dict) else {}, source=source)


def _not_proved(source: str, failures: list[str]) -> LockNotProved:
    lines = "".join(f"\n  {f}" for f in failures)
    return LockNotProved(f"{source}: the lock does not prove; its content does not match its "
                         f"hashes:{lines}\nhint: it was edited or damaged after `envbuild lock` "
                         "wrote it; re-create it with `envbuild lock`")


def spec_from_table(*, name: str, table: Any, lock_hash: str | None,
                    datasets: Mapping[str, Any], source: str) -> TargetSpec:
    """Build the spec from a lock's `targets.NAME` table; errors name the dotted key."""
    path = f"targets.{name}"
    if not isinstance(table, dict):
        raise _bad(source, path, "expected a table")
    packages = []
    for position, item in enumerate(_get(table, "packages", list, source, path, [])):
        where = f"{path}.packages[{position}]"
        if not isinstance(item, dict):
            raise _bad(source, where, "expected a table")
        packages.append(LockedDist(name=_get(item, "name", str, source, where),
                                   version=_get(item, "version", str, source, where)))
    conda = []
    for position, item in enumerate(_get(table, "conda", list, source, path, [])):
        where = f"{path}.conda[{position}]"
        if not isinstance(item, dict):
            raise _bad(source, where, "expected a table")
        conda.append(LockedConda(**{k: _get(item, k, str, source, where)
                                    for k in ("name", "version", "build", "hash")}))
    system = []
    for position, item in enumerate(_get(table, "system", list, source, path, [])):
        where = f"{path}.system[{position}]"
        if not isinstance(item, dict):
            raise _bad(source, where, "expected a table")
        system.append(LockedDeb(name=_get(item, "name", str, source, where),
                                version=_get(item, "version", str, source, where),
                                architecture=_get(item, "architecture", str, source, where)))
    gpus = _get(table, "gpus", list, source, path, [])
    hardware = _get(table, "hardware", list, source, path, [])
    if not all(isinstance(g, str) for g in gpus):
        raise _bad(source, f"{path}.gpus", "expected strings")
    return TargetSpec(
        name=name, hash=_get(table, "hash", str, source, path), lock_hash=lock_hash,
        python=_get(table, "python", str, source, path),
        cuda=_get(table, "cuda", str, source, path, None),
        gpus=tuple(gpus), driver_floor=_get(table, "driver-floor", str, source, path, None),
        packages=tuple(packages), hardware=tuple(h for h in hardware if isinstance(h, dict)),
        datasets={str(k): dict(v) for k, v in datasets.items() if isinstance(v, dict)},
        platform=_get(table, "platform", str, source, path, None),
        glibc=_get(table, "glibc", str, source, path, None), conda=tuple(conda),
        system=tuple(system),
    )


def payload(spec_table: Mapping[str, Any], *, name: str, lock_hash: str | None,
            datasets: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON document `--target-json` reads: one target table and what surrounds it
    (the table holds its base pin, so it proves alone)."""
    return {"target": name, "table": dict(spec_table), "lock_hash": lock_hash,
            "datasets": dict(datasets)}


def spec_from_payload(data: Any, *, source: str) -> TargetSpec:
    """The target of a `--target-json` document, its table proved against its hash."""
    from .proof import prove_target

    if not isinstance(data, dict) or not isinstance(data.get("target"), str):
        raise RuntimeInputError(f"{source}: expected a target document with 'target' and 'table'")
    if isinstance(data.get("table"), dict):
        failure = prove_target(data["target"], data["table"])
        if failure:
            raise _not_proved(source, [failure])
    lock_hash = data.get("lock_hash")
    datasets = data.get("datasets") or {}
    return spec_from_table(name=data["target"], table=data.get("table"),
                           lock_hash=lock_hash if isinstance(lock_hash, str) else None,
                           datasets=datasets if isinstance(datasets, dict) else {}, source=source)


_MISSING = object()


def _get(table: Mapping[str, Any], key: str, kind: type, source: str, path: str,
         default: Any = _MISSING) -> Any:
    if key not in table:
        if default is _MISSING:
            raise _bad(source, f"{path}.{key}", "missing value")
        return default
    value = table[key]
    if not isinstance(value, kind):
        raise _bad(source, f"{path}.{key}", f"unexpected {type(value).__name__}")
    return value


def _bad(source: str, path: str, message: str) -> RuntimeInputError:
    return RuntimeInputError(f"{source}: {message} in '{path}'")
