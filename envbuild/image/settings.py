"""The image builder's view of the manifest's `[image]` table (parsed by envbuild.manifest)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from envbuild.errors import ProblemsError
from envbuild.manifest.image import ImageSettings, parse_image_settings
from envbuild.manifest.load import parse_toml, read_manifest_text
from envbuild.manifest.locate import LineIndex

if TYPE_CHECKING:
    from envbuild.cluster.manifest import RunSettings

__all__ = ["ImageSettings", "load_image_settings", "load_run_settings"]


def load_image_settings(manifest_path: Path) -> ImageSettings:
    """Read `[image]` from the manifest (all of it is optional). Raises ProblemsError."""
    text = read_manifest_text(manifest_path)
    data = parse_toml(text, file=manifest_path.name)
    return parse_image_settings(data.get("image", {}), file=manifest_path.name,
                                lines=LineIndex(text), folder=manifest_path.parent)


def load_run_settings(manifest_path: Path) -> RunSettings | None:
    """`[run]` from the manifest (None without one): the command cluster jobs start in the
    image, which the build checks as it checks the entrypoint. Raises ProblemsError for a
    bad `[run]` (the `[cluster]` table is `envbuild cluster`'s to check, not the build's)."""
    from envbuild.cluster.manifest import parse_cluster  # the one [run] parser

    text = read_manifest_text(manifest_path)
    data = parse_toml(text, file=manifest_path.name)
    if "run" not in data:
        return None
    manifest, problems = parse_cluster({"run": data["run"]}, file=manifest_path.name,
                                       line_of=LineIndex(text).line_of)
    if problems:
        raise ProblemsError(problems, hint=f"fix the problems above in {manifest_path}")
    return manifest.run
