"""`envbuild ci build`: build and push the images the plan rebuilds, and no other.

The registry is asked first: a target whose planned image hash is already tagged there
(`lock-<image hash>`, the tag `envbuild image --push` writes last, after every blob) is
not built at all. Every other target goes through the `envbuild image` core on its own
(as one runner of a CI matrix would), whose push again looks the tag up and sends nothing
when it already names the digest: a re-run after a successful run pushes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envbuild.ci.plan import Plan, make_plan
from envbuild.errors import InputError


@dataclass(frozen=True, kw_only=True, slots=True)
class CiBuildOptions:
    manifest_path: Path
    lock_path: Path
    base: str | None  # None: the merge base with the default branch
    push: str  # "": the [image] repository; else a repository
    targets: tuple[str, ...]  # empty: every target the plan rebuilds
    cache_dir: Path | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class BuiltTarget:
    name: str
    reference: str
    digest: str
    pushed: bool  # False: the registry already had this digest under the tag
    seconds: float

    def document(self) -> dict[str, Any]:
        return {"reference": self.reference, "digest": self.digest,
                "state": "pushed" if self.pushed else "already present",
                "seconds": round(self.seconds, 3)}


@dataclass(frozen=True, kw_only=True, slots=True)
class CiBuildReport:
    plan: Plan
    built: tuple[BuiltTarget, ...]
    skipped: tuple[str, ...]  # asked for (or in the lock) but unchanged: not built

    def document(self) -> dict[str, Any]:
        return {"base": self.plan.document()["base"],
                "built": {b.name: b.document() for b in self.built},
                "skipped": list(self.skipped)}


def ci_build(options: CiBuildOptions, progress: Callable[[str], None]) -> CiBuildReport:
    """Plan, then build and push each changed or added target (of `options.targets`, when
    given). Raises InputError for a bad ref or a target the lock does not have."""
    from envbuild.image.build import ImageOptions, image_command

    plan = make_plan(options.manifest_path, options.lock_path, options.base)
    current = {t.name for t in plan.targets if t.status != "removed"}
    unknown = sorted(set(options.targets) - current)
    if unknown:
        raise InputError(f"no target {', '.join(unknown)} in the lock",
                         hint=f"targets: {', '.join(sorted(current))}")
    wanted = set(options.targets) or current
    rebuild = [n for n in plan.rebuilt if n in wanted]
    present = _already_pushed(options, plan, rebuild)
    built = []
    for name in rebuild:
        started = time.monotonic()
        if name in present:
            progress(f"{present[name][0]}: already {present[name][1]}; not built")
            built.append(BuiltTarget(name=name, reference=present[name][0], digest=present[name][1],
                                     pushed=False, seconds=time.monotonic() - started))
            continue
        report = image_command(ImageOptions(
            manifest_path=options.manifest_path, lock_path=options.lock_path, targets=(name,),
            output=None, push=options.push, cache_dir=options.cache_dir), progress)
        push = report.pushed[0]  # one target: one push
        built.append(BuiltTarget(name=name, reference=push.reference, digest=push.digest,
                                 pushed=not push.unchanged, seconds=time.monotonic() - started))
    return CiBuildReport(plan=plan, built=tuple(built),
                         skipped=tuple(sorted(wanted - set(rebuild))))


def _already_pushed(options: CiBuildOptions, plan: Plan, names: list[str]) -> dict[str, tuple[str, str]]:
    """Target -> (reference, digest) for each target whose planned image hash the registry
    already has a tag for. A target planned by target hash only is always built."""
    from envbuild.image.push import repository_ref, tag_for
    from envbuild.image.registry.distribution import open_registry
    from envbuild.image.settings import load_image_settings

    hashes = {t.name: t.new for t in plan.targets
              if t.name in names and t.basis == "image" and t.new is not None}
    if not hashes:
        return {}
    text = options.push or load_image_settings(options.manifest_path).repository
    if not text:
        raise InputError("--push needs a repository",
                         hint='set [image] repository = "host/team/app" or pass --push REF')
    repository = repository_ref(text)
    registry = open_registry(repository)
    found = {}
    try:
        for name, image_hash in sorted(hashes.items()):
            ref = repository.with_tag(tag_for(image_hash))
            digest = registry.manifest_digest(ref)
            if digest is not None:
                found[name] = (str(ref), digest)
    finally:
        registry.close()
    return found
