"""The lock file: model, canonical TOML codec, hashes, and the one reader that proves it."""

from envbuild.lockfile.codec import dump, loads
from envbuild.lockfile.fields import LockFormatError
from envbuild.lockfile.model import SCHEMA_VERSION, Artifact, Lock, LockedPackage, LockedTarget
from envbuild.lockfile.reader import LockNotProved, load

__all__ = ["SCHEMA_VERSION", "Artifact", "Lock", "LockFormatError", "LockNotProved", "LockedPackage",
           "LockedTarget", "dump", "load", "loads"]
