"""Builders shared by the hardware tests: resolutions and edited copies of the data file."""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from typing import Any

from envbuild.hardware.compat import HardwareTarget, ResolvedPackage
from envbuild.hardware.facts import HardwareFacts, parse_facts

RUNTIME_CU12 = ("nvidia-cuda-runtime-cu12", "nvidia-cuda-nvrtc-cu12", "nvidia-cuda-cupti-cu12")


def data() -> dict[str, Any]:
    """A fresh, editable copy of the packaged hardware.toml."""
    text = resources.files("envbuild.hardware").joinpath("hardware.toml").read_text("utf-8")
    return copy.deepcopy(tomllib.loads(text))


def facts_with(**edits: Any) -> HardwareFacts:
    """The packaged data with rows appended: facts_with(gpu=[{...}])."""
    d = data()
    for key, rows in edits.items():
        d.setdefault(key, []).extend(rows)
    return parse_facts(d)


def pkg(name: str, version: str, *deps: str) -> ResolvedPackage:
    return ResolvedPackage(name=name, version=version, dependencies=deps)


def resolution(*packages: ResolvedPackage) -> dict[str, ResolvedPackage]:
    return {p.name: p for p in packages}


def pypi_torch(version: str, toolkit: str, *extra: ResolvedPackage) -> dict[str, ResolvedPackage]:
    """PyPI's x86_64 torch: no local version, CUDA runtime wheels of one toolkit version."""
    torch = pkg("torch", version, *RUNTIME_CU12, "filelock", *(p.name for p in extra))
    return resolution(torch, *(pkg(n, toolkit) for n in RUNTIME_CU12), pkg("filelock", "3.16.1"),
                      *extra)


def index_torch(version: str) -> dict[str, ResolvedPackage]:
    """A torch from PyTorch's own index, judged by its local version alone."""
    return resolution(pkg("torch", version, "filelock"), pkg("filelock", "3.16.1"))


def target(name: str, *gpus: str, cuda: str | None = "12.4", platform: str = "linux/amd64",
           python: str | None = None) -> HardwareTarget:
    return HardwareTarget(name=name, platform=platform, cuda=cuda, gpus=gpus, python=python)
