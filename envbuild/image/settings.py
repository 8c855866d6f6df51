"""The image builder's view of the manifest's `[image]` table (parsed by envbuild.manifest)."""

from __future__ import annotations

from pathlib import Path

from envbuild.manifest.image import ImageSettings, parse_image_settings
from envbuild.manifest.load import parse_toml, read_manifest_text
from envbuild.manifest.locate import LineIndex

__all__ = ["ImageSettings", "load_image_settings"]


def load_image_settings(manifest_path: Path) -> ImageSettings:
    """Read `[image]` from the manifest (all of it is optional). Raises ProblemsError."""
    text = read_manifest_text(manifest_path)
    data = parse_toml(text, file=manifest_path.name)
    return parse_image_settings(data.get("image", {}), file=manifest_path.name,
                                lines=LineIndex(text), folder=manifest_path.parent)
