"""What every cluster emitter provides, and the error base of the cluster work."""

from __future__ import annotations

import abc
from dataclasses import dataclass

from envbuild.cluster.plan import ClusterPlan
from envbuild.errors import InputError


class ClusterError(InputError):
    """A cluster spec cannot be emitted from this manifest, lock and image (exit 2)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class EmittedFile:
    """One file of output: its path relative to the output folder and its bytes."""

    path: str
    content: bytes
    provider: str
    pool: str | None  # None for files shared by every pool (Terraform variables)
    executable: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class Placeholder:
    """An account-specific value with no default, emitted as a variable or marked text."""

    provider: str
    key: str  # the manifest key that would set it, "cluster.eks.cluster-name"
    emitted_as: str  # "var.cluster_name", or the marked text written in its place

    def render(self) -> str:
        return f"{self.provider}: {self.key} is not set; emitted as {self.emitted_as}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Emission:
    files: tuple[EmittedFile, ...]
    placeholders: tuple[Placeholder, ...] = ()
    notes: tuple[str, ...] = ()


class Emitter(abc.ABC):
    """One provider: turns the plan into files that provider's tools accept."""

    name: str

    @abc.abstractmethod
    def emit(self, plan: ClusterPlan) -> Emission:
        """Every file for every pool of the plan; raises ClusterError for what cannot map."""
