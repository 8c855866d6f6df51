"""The manifest, `envbuild.toml`: model and loader."""

from envbuild.manifest.load import load_manifest, parse_manifest
from envbuild.manifest.model import DEFAULT_INDEX, Index, Manifest, Target

__all__ = ["DEFAULT_INDEX", "Index", "Manifest", "Target", "load_manifest", "parse_manifest"]
