"""Pick the one file a target installs from the candidates a resolver reports."""

from __future__ import annotations

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from envbuild import platforms
from envbuild.manifest.model import Target
from envbuild.resolvers.interface import Candidate, ResolutionImpossible


def choose_artifact(name: str, version: str, candidates: list[Candidate], target: Target, *,
                    allow_sdist: bool) -> Candidate:
    """The best-ranked compatible wheel; the sdist only where the manifest allows it."""
    supported = platforms.supported_tags(target.platform, target.python, target.glibc)
    best: tuple[int, str, Candidate] | None = None
    for candidate in candidates:
        if candidate.kind != "wheel":
            continue
        try:
            _, _, _, wheel_tags = parse_wheel_filename(candidate.file)
        except InvalidWheelFilename:
            continue
        ranks = [supported[tag] for tag in wheel_tags if tag in supported]
        if ranks and (best is None or (min(ranks), candidate.file) < best[:2]):
            best = (min(ranks), candidate.file, candidate)
    if best is not None:
        return best[2]
    sdists = [c for c in candidates if c.kind == "sdist"]
    if allow_sdist and sdists:
        return sdists[0]
    what = "wheel" if not sdists else "wheel (only a source distribution)"
    raise ResolutionImpossible(
        f'target "{target.name}": {name} {version} has no {what} for {target.platform} '
        f"(Python {target.python}, glibc {target.glibc})",
        hint=(f'allow building it from source with [resolution] allow-sdist = ["{name}"], '
              "pin a version that ships a wheel for this platform, or drop it from this target"),
    )
