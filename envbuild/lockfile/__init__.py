"""The lock file: model, canonical TOML codec, hashes."""

from envbuild.lockfile.codec import LockFormatError, dump, load, loads
from envbuild.lockfile.model import SCHEMA_VERSION, Artifact, Lock, LockedPackage, LockedTarget

__all__ = ["SCHEMA_VERSION", "Artifact", "Lock", "LockFormatError", "LockedPackage",
           "LockedTarget", "dump", "load", "loads"]
