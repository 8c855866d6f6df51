"""`envbuild cluster`'s core: manifest and lock in, one folder of provider files out.

Nothing is written unless every chosen provider can emit every pool: all problems of all
providers are reported together (exit 2). Each file is replaced atomically.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from envbuild.cluster.eks import EksEmitter
from envbuild.cluster.gke import GkeEmitter
from envbuild.cluster.interface import ClusterError, EmittedFile, Emitter, Placeholder
from envbuild.cluster.k8snames import target_name_problem
from envbuild.cluster.karpenter import KarpenterEmitter
from envbuild.cluster.kubernetes import KubernetesEmitter
from envbuild.cluster.manifest import ClusterManifest, parse_cluster
from envbuild.cluster.plan import PlanInputs, build_plan
from envbuild.cluster.slurm import SlurmEmitter
from envbuild.errors import InputError, Problem, ProblemsError
from envbuild.fileio import write_atomic
from envbuild.hardware.facts import load_facts
from envbuild.lockfile import load
from envbuild.manifest.locate import LineIndex

EMITTERS: dict[str, type[Emitter]] = {
    "kubernetes": KubernetesEmitter, "karpenter": KarpenterEmitter, "gke": GkeEmitter,
    "eks": EksEmitter, "slurm": SlurmEmitter,
}


@dataclass(frozen=True, kw_only=True, slots=True)
class ClusterOptions:
    manifest_path: Path
    lock_path: Path
    output: Path
    providers: tuple[str, ...] = ()  # empty: the manifest's `cluster.providers`
    images: tuple[str, ...] = ()  # `--image` options
    strict: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class ClusterResult:
    output: Path
    lock_hash: str
    files: tuple[EmittedFile, ...]
    placeholders: tuple[Placeholder, ...]
    notes: tuple[str, ...]

    def document(self) -> dict[str, Any]:
        return {
            "output": str(self.output), "lock_hash": self.lock_hash,
            "files": [{"path": f.path, "provider": f.provider, "pool": f.pool,
                       "sha256": hashlib.sha256(f.content).hexdigest()} for f in self.files],
            "placeholders": [{"provider": p.provider, "key": p.key, "emitted_as": p.emitted_as}
                             for p in self.placeholders],
            "notes": list(self.notes),
        }


def emit_cluster(options: ClusterOptions) -> ClusterResult:
    """Emit every chosen provider's files for every pool, or raise without writing any."""
    project, manifest, lines = read_manifest(options.manifest_path)
    settings = manifest.cluster
    if settings is None:
        raise InputError(f"{options.manifest_path}: no [cluster] section",
                         hint='add [cluster] with providers = ["kubernetes"] and a pool: '
                              '[cluster.pools.h100] target = "h100", gpu = "H100", '
                              "gpus-per-node = 8")
    providers = tuple(p for p in EMITTERS if p in (options.providers or settings.providers))
    lock = load(options.lock_path)
    # Slurm without a mode runs the image where one is known, else a venv: only an explicit
    # container mode needs one.
    needs_image = "kubernetes" in providers or ("slurm" in providers
                                                and settings.slurm.get("mode") == "container")
    plan = build_plan(PlanInputs(
        settings=settings, run=manifest.run, lock=lock, lock_path=options.lock_path,
        manifest_path=options.manifest_path, project=project, images=options.images,
        needs_image=needs_image, needs_run="kubernetes" in providers or "slurm" in providers,
        locate=lambda key: _locate(options.manifest_path.name, lines, key),
        mounts=manifest.mounts, providers=providers, code_dir=manifest.code_dir,
        strict=options.strict),
        load_facts())
    files: list[EmittedFile] = []
    sized = {"kubernetes", "karpenter", "eks", "gke"} & set(providers)
    placeholders: list[Placeholder] = []
    notes: list[str] = list(plan.notes)
    problems: list[str] = []
    for name in providers:
        try:
            emission = EMITTERS[name]().emit(plan)
        except ClusterError as error:
            problems.append(error.message)
            continue
        files += emission.files
        placeholders += emission.placeholders
        notes += emission.notes
    if problems:
        raise ClusterError("\n".join(problems), hint="nothing was written; fix the problems above")
    placeholders += [Placeholder(provider=u.provider, key=u.key, emitted_as=u.emitted_as)
                     for u in plan.unset
                     if u.provider in providers or (u.provider == "image" and sized)]
    if options.strict and placeholders:
        raise InputError(
            f"--strict: {len(placeholders)} account-specific setting"
            f"{'s are' if len(placeholders) != 1 else ' is'} not set:\n"
            + "\n".join(f"  {p.key} ({p.provider})" for p in placeholders),
            hint=_strict_hint(options.manifest_path.name, placeholders))
    for file in sorted(files, key=lambda f: f.path):
        target = options.output / file.path
        write_atomic(target, file.content)
        if file.executable:
            target.chmod(0o755)
    return ClusterResult(output=options.output, lock_hash=lock.lock_hash,
                         files=tuple(sorted(files, key=lambda f: f.path)),
                         placeholders=tuple(placeholders), notes=tuple(notes))


def _strict_hint(manifest: str, placeholders: list[Placeholder]) -> str:
    keys = [p.key for p in placeholders if p.key.startswith("cluster.")]
    hint = (f"set them in {manifest} (for example {keys[0]} = \"...\")" if keys else "")
    if any(p.provider == "image" for p in placeholders):
        hint += ("; " if hint else "") + "run `envbuild image --push` to record the image's size"
    return hint + ", or emit without --strict"


def read_manifest(path: Path) -> tuple[str, ClusterManifest, LineIndex]:
    """The project name, the `[cluster]`/`[run]` settings and the lines of the manifest's keys.

    Raises ProblemsError listing every problem of those sections."""
    from envbuild.manifest.load import parse_toml, read_manifest_text

    text = read_manifest_text(path)
    data = parse_toml(text, file=path.name)
    lines = LineIndex(text)
    manifest, problems = parse_cluster(data, file=path.name, line_of=lines.line_of)
    problems += _target_name_problems(data, path.name, lines)
    if problems:
        raise ProblemsError(problems, hint=f"fix the problems above in {path}")
    if "image" in data:
        manifest = replace(manifest, code_dir=code_dir(data["image"], path, lines))
    project = data.get("project", {}).get("name") if isinstance(data.get("project"), dict) else None
    return (project if isinstance(project, str) and project else path.parent.name), manifest, lines


def code_dir(table: Any, path: Path, lines: LineIndex) -> str:
    """The folder from which `python -m` finds the code, relative to the manifest's folder:
    the image's rule (`working_dir()`: the first `[image] copy` entry's code), which a
    virtual-environment job on Slurm follows in the project folder.

    Raises ProblemsError for a bad `[image]` table (a `copy` entry absolute, with `..` or
    missing), UnsafePath where the folder would leave the project."""
    from envbuild.manifest.image import parse_image_settings, working_dir
    from envbuild.safepath import relative

    folder = path.parent
    image = parse_image_settings(table, file=path.name, lines=lines, folder=folder)
    # A declared workdir is where `copy` puts the project's files: the project folder itself.
    if image.working_dir == image.workdir:
        return "."
    found = working_dir(".", image.copy, folder)
    if found != ".":
        relative(folder, found, what="[image] copy's code folder")
    return found


def _target_name_problems(data: dict[str, Any], file: str, lines: LineIndex) -> list[Problem]:
    """The target-name rule of `envbuild lock`, which this command does not run: target
    names become label values of every emitted object."""
    targets = data.get("targets")
    if not isinstance(targets, dict):
        return []
    return [Problem(file=file, line=lines.line_of(f"targets.{name}"), key=f"targets.{name}",
                    message=problem)
            for name in sorted(targets) if (problem := target_name_problem(name)) is not None]


def _locate(file: str, lines: LineIndex, key: str) -> str:
    line = lines.line_of(key)
    return f"{file}:{line}: {key}" if line is not None else f"{file}: {key}"

