"""`envbuild ci build`: build and push the images the plan rebuilds, and those it does not
rebuild but the registry lacks.

The registry is asked first, for every target that builds an image: the tag
`lock-<image hash>` is the one `envbuild image --push` writes last, after every blob. A
target the plan calls unchanged is built when its tag is missing (the build of the commit
that changed it failed, or never ran), else left alone. A target the plan rebuilds is built
locally in every case: when its tag already exists, the digest it names must be the one
the lock builds (a tag moved to another image is a failure, and nothing is pushed); the
push then sends nothing, attaches any missing attestation and records the digest beside
the lock, exactly as `envbuild image --push` does. Each target stands alone (as one runner
of a CI matrix would): a failure is reported with what was published before and after it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envbuild.ci.plan import Plan, TargetPlan, make_plan
from envbuild.errors import CheckFailed, EnvbuildError, InputError

if TYPE_CHECKING:
    from envbuild.image.registry.interface import Reference


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
    why: str  # "changed" | "added" | "missing from the registry"
    referrers: int = 0  # attestations in place on the image (attached where missing)

    @property
    def state(self) -> str:
        if self.why == "missing from the registry":
            return "missing from the registry, rebuilt"
        return "pushed" if self.pushed else "already present"

    def document(self) -> dict[str, Any]:
        return {"reference": self.reference, "digest": self.digest, "state": self.state,
                "referrers": self.referrers, "seconds": round(self.seconds, 3)}


@dataclass(frozen=True, kw_only=True, slots=True)
class FailedTarget:
    name: str
    error: EnvbuildError

    def document(self) -> dict[str, Any]:
        return {"message": self.error.message, "hint": self.error.hint,
                "exit_code": int(self.error.exit_code)}


@dataclass(frozen=True, kw_only=True, slots=True)
class CiBuildReport:
    plan: Plan
    built: tuple[BuiltTarget, ...]
    skipped: tuple[str, ...]  # unchanged and in the registry (or not knowable): not built
    no_image: tuple[str, ...]  # targets whose platform no image is built for
    failed: tuple[FailedTarget, ...]  # in target order; the others were still built

    def document(self) -> dict[str, Any]:
        return {"base": self.plan.document()["base"],
                "built": {b.name: b.document() for b in self.built},
                "skipped": list(self.skipped), "no_image": list(self.no_image),
                "failed": {f.name: f.document() for f in self.failed}}


def ci_build(options: CiBuildOptions, progress: Callable[[str], None]) -> CiBuildReport:
    """Plan, then build and push each changed or added target and each unchanged one whose
    tag the registry lacks (of `options.targets`, when given). Raises InputError for a bad
    ref, a target the lock does not have or a bad repository; a failure of one target's
    build or push is reported in `failed`, not raised."""
    from envbuild.image.push import repository_ref

    plan = make_plan(options.manifest_path, options.lock_path, options.base)
    current = {t.name: t for t in plan.targets if t.status != "removed"}
    unknown = sorted(set(options.targets) - set(current))
    if unknown:
        raise InputError(f"no target {', '.join(unknown)} in the lock",
                         hint=f"targets: {', '.join(sorted(current))}")
    wanted = [current[n] for n in sorted(set(options.targets) or set(current))]
    no_image = tuple(t.name for t in wanted if t.basis == "none")
    imaged = [t for t in wanted if t.basis != "none"]
    text = options.push or _default_repository(options.manifest_path)
    repository = repository_ref(text)
    present = _tagged(repository, [t for t in imaged if t.basis == "image" and t.new])
    built: list[BuiltTarget] = []
    failed: list[FailedTarget] = []
    skipped: list[str] = []
    for target in imaged:
        if not target.rebuild and (target.basis != "image" or target.name in present):
            skipped.append(target.name)  # unchanged, and in the registry (or not knowable)
            continue
        why = target.status if target.rebuild else "missing from the registry"
        if not target.rebuild:
            from envbuild.image.push import tag_for

            assert target.new is not None
            progress(f"{target.name}: unchanged, but {repository.with_tag(tag_for(target.new))} "
                     "is missing from the registry: rebuilding it")
        try:
            built.append(_build_one(options, repository, target, present.get(target.name),
                                    why, progress))
        except EnvbuildError as error:
            progress(f"{target.name}: failed: {error.message.splitlines()[0]}")
            failed.append(FailedTarget(name=target.name, error=error))
    return CiBuildReport(plan=plan, built=tuple(built), skipped=tuple(skipped),
                         no_image=no_image, failed=tuple(failed))


def _default_repository(manifest_path: Path) -> str:
    from envbuild.image.settings import load_image_settings

    text = load_image_settings(manifest_path).repository
    if not text:
        raise InputError("--push needs a repository",
                         hint='set [image] repository = "host/team/app" or pass --push REF')
    return text


def _build_one(options: CiBuildOptions, repository: Reference, target: TargetPlan,
               tagged: tuple[str, str] | None, why: str,
               progress: Callable[[str], None]) -> BuiltTarget:
    """Build one target locally; when its tag exists, check it names what was built; then
    publish as `envbuild image --push` does (nothing is sent when the tag is right)."""
    from envbuild.image.build import ImageOptions, build_images, publish

    started = time.monotonic()
    image_options = ImageOptions(manifest_path=options.manifest_path, lock_path=options.lock_path,
                                 targets=(target.name,), output=None, push=options.push,
                                 cache_dir=options.cache_dir)
    result = build_images(image_options, progress)
    digest = result.targets[target.name].digest
    if tagged is not None and tagged[1] != digest:
        raise CheckFailed(f"{tagged[0]} names {tagged[1]}, but the lock builds {digest} for "
                          f"target {target.name}; nothing pushed",
                          hint="the tag was moved or overwritten by hand: delete it from the "
                               "registry (or push the right image with envbuild image --push) "
                               "after finding out why")
    push = publish(image_options, result, repository, progress)[0]  # one target: one push
    return BuiltTarget(name=target.name, reference=push.reference, digest=push.digest,
                       pushed=not push.unchanged, seconds=time.monotonic() - started, why=why,
                       referrers=len(push.referrers))


def _tagged(repository: Reference, targets: list[TargetPlan]) -> dict[str, tuple[str, str]]:
    """Target -> (reference, digest) for each target whose planned image hash the registry
    has a tag for: one manifest HEAD per target."""
    from envbuild.image.push import tag_for
    from envbuild.image.registry.distribution import open_registry

    if not targets:
        return {}
    registry = open_registry(repository)
    found = {}
    try:
        for target in targets:
            assert target.new is not None
            ref = repository.with_tag(tag_for(target.new))
            digest = registry.manifest_digest(ref)
            if digest is not None:
                found[target.name] = (str(ref), digest)
    finally:
        registry.close()
    return found
