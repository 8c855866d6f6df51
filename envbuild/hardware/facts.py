"""Load hardware.toml into typed rows, with the lookups the checks and emitters need.

`load_facts()` reads the packaged file once per process. Every accessor takes an optional
`Consulted` recorder: pass one per target and it collects exactly the rows (and misses) that
target's checks read, which is what enters the target's lock inputs.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from envbuild.errors import EnvbuildError
from envbuild.hardware.rows import (
    Confidence,
    Consulted,
    CudaCompatRow,
    CudaRow,
    GpuRow,
    Match,
    PypiDefaultRow,
    Row,
    RuntimeWheelRow,
    TorchBuildRow,
    TorchVariantsRow,
)
from envbuild.hardware.versions import format_cuda, parse_cuda

SCHEMA_VERSION = 1
DATA_FILE = "hardware.toml"


class HardwareDataError(EnvbuildError):
    """The hardware data file is malformed: a bug in envbuild's package data."""


@dataclass(frozen=True, kw_only=True, slots=True)
class HardwareFacts:
    """Every row of one hardware data file, with indexes for the lookups."""

    schema_version: int
    cudas: tuple[CudaRow, ...]
    cuda_compats: tuple[CudaCompatRow, ...]
    gpus: tuple[GpuRow, ...]
    torch_builds: tuple[TorchBuildRow, ...]
    pypi_defaults: tuple[PypiDefaultRow, ...]
    runtime_wheels: tuple[RuntimeWheelRow, ...]
    torch_variants: tuple[TorchVariantsRow, ...] = ()
    _gpu_keys: dict[str, GpuRow] = field(init=False, repr=False, compare=False)
    _wheel_keys: dict[str, RuntimeWheelRow] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        gpu_keys: dict[str, GpuRow] = {}
        for row in self.gpus:
            for name in (row.name, *row.aliases):
                key = gpu_key(name)
                if gpu_keys.get(key, row) is not row:
                    raise HardwareDataError(
                        f'{DATA_FILE}: GPU name "{name}" of {row.name} is already a name of '
                        f"{gpu_keys[key].name}")
                gpu_keys[key] = row
        wheel_keys = {name: row for row in self.runtime_wheels for name in row.packages}
        object.__setattr__(self, "_gpu_keys", gpu_keys)
        object.__setattr__(self, "_wheel_keys", wheel_keys)

    # -- CUDA ------------------------------------------------------------------------------------

    def cuda(self, version: str, *, consulted: Consulted | None = None) -> CudaRow | None:
        """The driver floor row of a CUDA `major.minor`; None if unknown (a miss is recorded)."""
        parsed = parse_cuda(version)
        row = next((r for r in self.cudas if r.key == parsed), None)
        _note(consulted, row, "cuda", version)
        return row

    def cuda_compat(self, major: int, *,
                    consulted: Consulted | None = None) -> CudaCompatRow | None:
        """The minor-version-compatibility driver floor of a CUDA major."""
        row = next((r for r in self.cuda_compats if r.major == major), None)
        _note(consulted, row, "cuda-compat", str(major))
        return row

    def cuda_versions(self) -> tuple[str, ...]:
        """Every known CUDA `major.minor`, oldest first."""
        return tuple(format_cuda(v) for v in sorted(r.key for r in self.cudas))

    # -- GPUs ------------------------------------------------------------------------------------

    def gpu(self, name: str, *, consulted: Consulted | None = None) -> GpuRow | None:
        """A GPU by name or alias, any case ("h100", "NVIDIA H100-SXM"); None if unknown."""
        row = self._gpu_keys.get(gpu_key(name))
        _note(consulted, row, "gpu", gpu_key(name))
        return row

    def gpu_names(self) -> tuple[str, ...]:
        """The canonical GPU names, in data order."""
        return tuple(row.name for row in self.gpus)

    def suggest_gpu(self, name: str) -> str | None:
        """The canonical name closest to an unknown `name`, for "did you mean" messages.

        Names are compared with look-alike characters folded (`A1OO` is A100 typed with the
        letter O), then by similarity.
        """
        folded: dict[str, GpuRow | None] = {}
        for key, row in self._gpu_keys.items():
            # Two GPUs that fold alike suggest neither: a wrong "did you mean" misleads.
            folded[_fold(key)] = row if folded.get(_fold(key), row) is row else None
        close = difflib.get_close_matches(_fold(gpu_key(name)), sorted(folded), n=1, cutoff=0.6)
        match = folded.get(_fold(gpu_key(name))) or (folded[close[0]] if close else None)
        return match.name if match is not None else None

    # -- torch -----------------------------------------------------------------------------------

    def torch_build(self, torch_version: str, variant: str, arch: str, *,
                    consulted: Consulted | None = None) -> TorchBuildRow | None:
        """The compiled architectures of a torch release's `variant` build on `arch`."""
        release = _release(torch_version)
        row = next((r for r in self.torch_builds if r.variant == variant and r.arch == arch
                    and release is not None and _contains(r.torch, release)), None)
        _note(consulted, row, "torch-build", f"{variant}:{arch}:{release or torch_version}")
        return row

    def torch_builds_for(self, torch_version: str, arch: str) -> tuple[TorchBuildRow, ...]:
        """Every known variant of one torch release on `arch` (for suggesting fixes)."""
        release = _release(torch_version)
        if release is None:
            return ()
        return tuple(r for r in self.torch_builds if r.arch == arch and _contains(r.torch, release))

    def torch_release(self, torch_version: str, arch: str) -> TorchVariantsRow | None:
        """The builds PyTorch publishes for one torch release on `arch`; None if unknown.

        Read only to word the fix of a refusal (a refused target writes no lock), so the row is
        not recorded as consulted.
        """
        release = _release(torch_version)
        return next((r for r in self.torch_variants if r.arch == arch
                     and release is not None and _contains(r.torch, release)), None)

    def releases_with(self, variant: str, arch: str) -> tuple[TorchVariantsRow, ...]:
        """The rows of the releases that publish `variant` on `arch`, oldest first."""
        rows = [r for r in self.torch_variants if r.arch == arch and variant in r.variants]
        return tuple(sorted(rows, key=lambda r: spec_bounds(r.torch)[0] or Version("0")))

    def pypi_default(self, torch_version: str, arch: str, *,
                     consulted: Consulted | None = None) -> PypiDefaultRow | None:
        """PyPI's build of a torch release on `arch`; a row whose variant is None means unknown."""
        release = _release(torch_version)
        row = next((r for r in self.pypi_defaults if r.arch == arch
                    and release is not None and _contains(r.torch, release)), None)
        _note(consulted, row, "pypi-default", f"{arch}:{release or torch_version}")
        return row

    def pypi_default_variant(self, torch_version: str, arch: str, *,
                             consulted: Consulted | None = None) -> str | None:
        """`"cu124"`, `"cpu"`, or None where envbuild does not know."""
        row = self.pypi_default(torch_version, arch, consulted=consulted)
        return None if row is None else row.variant

    # -- runtime wheels --------------------------------------------------------------------------

    def runtime_wheel(self, package: str, *,
                      consulted: Consulted | None = None) -> RuntimeWheelRow | None:
        """The toolkit-versioned component a distribution belongs to; None for other packages."""
        row = self._wheel_keys.get(canonicalize_name(package))
        if row is not None and consulted is not None:
            consulted.add(row)  # a miss here is the common case and decides nothing
        return row


_LOOKALIKES = str.maketrans({"o": "0", "i": "1", "l": "1"})


def _fold(key: str) -> str:
    return key.translate(_LOOKALIKES)


def gpu_key(name: str) -> str:
    """Normalise a GPU name: case, separators, and the NVIDIA/Tesla prefixes do not matter."""
    key = "-".join(name.replace("_", " ").replace("-", " ").split()).casefold()
    for prefix in ("nvidia-", "tesla-"):
        key = key.removeprefix(prefix)
    return key


@cache
def load_facts() -> HardwareFacts:
    """The hardware data shipped in the package, read once per process."""
    text = resources.files("envbuild.hardware").joinpath(DATA_FILE).read_text(encoding="utf-8")
    return parse_facts(tomllib.loads(text))


def parse_facts(data: Mapping[str, Any], *, origin: str = DATA_FILE) -> HardwareFacts:
    """Build `HardwareFacts` from the parsed TOML; raises HardwareDataError naming the bad key."""
    r = _Reader(origin)
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise r.fail("schema_version", f"expected {SCHEMA_VERSION}, got {version!r}")
    facts = HardwareFacts(
        schema_version=SCHEMA_VERSION,
        cudas=tuple(_cuda_row(r, t, p) for p, t in r.tables(data, "cuda")),
        cuda_compats=tuple(_compat_row(r, t, p) for p, t in r.tables(data, "cuda_compat")),
        gpus=tuple(_gpu_row(r, t, p) for p, t in r.tables(data, "gpu")),
        torch_builds=tuple(_torch_row(r, t, p) for p, t in r.tables(data, "torch_build")),
        pypi_defaults=tuple(_pypi_row(r, t, p) for p, t in r.tables(data, "pypi_default")),
        runtime_wheels=tuple(_wheel_row(r, t, p) for p, t in r.tables(data, "runtime_wheel")),
        torch_variants=tuple(_variants_row(r, t, p) for p, t in r.tables(data, "torch_variants")),
    )
    ids = [row.row_id for rows in (facts.cudas, facts.cuda_compats, facts.gpus, facts.torch_builds,
                                   facts.torch_variants, facts.pypi_defaults,
                                   facts.runtime_wheels) for row in rows]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise r.fail("", f"duplicate rows: {', '.join(duplicates)}")
    return facts


def _note(consulted: Consulted | None, row: Row | None, kind: str, query: str) -> None:
    if consulted is None:
        return
    if row is None:
        consulted.miss(kind, query)
    else:
        consulted.add(row)


def _release(torch_version: str) -> Version | None:
    try:
        return Version(Version(torch_version).public)
    except InvalidVersion:
        return None


def _contains(specifier: str, release: Version) -> bool:
    return SpecifierSet(specifier).contains(release, prereleases=True)


def spec_bounds(specifier: str) -> tuple[Version | None, Version | None]:
    """The `>=` floor and `<` ceiling of a row's release range (`">=2.6,<2.7"`), where given."""
    floor = ceiling = None
    for spec in SpecifierSet(specifier):
        text = spec.version.removesuffix(".*")
        if spec.operator in (">=", "=="):
            floor = Version(text)
        if spec.operator == "<":
            ceiling = Version(text)
    return floor, ceiling


class _Reader:
    """Typed getters over the parsed TOML; errors carry the dotted path of the bad key."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, path: str, message: str) -> HardwareDataError:
        return HardwareDataError(f"{self.origin}: {path}: {message}" if path
                                 else f"{self.origin}: {message}")

    def tables(self, data: Mapping[str, Any], key: str) -> list[tuple[str, Mapping[str, Any]]]:
        items = data.get(key, [])
        if not isinstance(items, list):
            raise self.fail(key, "expected an array of tables")
        out: list[tuple[str, Mapping[str, Any]]] = []
        for position, item in enumerate(items):
            if not isinstance(item, dict):
                raise self.fail(f"{key}[{position}]", "expected a table")
            out.append((f"{key}[{position}]", item))
        return out

    def text(self, t: Mapping[str, Any], path: str, key: str) -> str:
        value = t.get(key)
        if not isinstance(value, str) or not value:
            raise self.fail(f"{path}.{key}", "expected a non-empty string")
        return value

    def opt_str(self, t: Mapping[str, Any], path: str, key: str) -> str | None:
        return None if t.get(key) is None else self.text(t, path, key)

    def strs(self, t: Mapping[str, Any], path: str, key: str) -> tuple[str, ...]:
        value = t.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(f"{path}.{key}", "expected an array of non-empty strings")
        return tuple(value)

    def cuda(self, t: Mapping[str, Any], path: str, key: str) -> str:
        value = self.text(t, path, key)
        if parse_cuda(value) is None:
            raise self.fail(f"{path}.{key}", f'expected "major.minor", got "{value}"')
        return value

    def one_of(self, t: Mapping[str, Any], path: str, key: str, allowed: tuple[str, ...]) -> str:
        value = self.text(t, path, key)
        if value not in allowed:
            raise self.fail(f"{path}.{key}", f'expected one of {", ".join(allowed)}, got "{value}"')
        return value

    def confidence(self, t: Mapping[str, Any], path: str, key: str = "confidence") -> Confidence:
        return "verified" if self.one_of(t, path, key, ("verified", "secondary")) == "verified" \
            else "secondary"

    def specifier(self, t: Mapping[str, Any], path: str, key: str) -> str:
        value = self.text(t, path, key)
        try:
            SpecifierSet(value)
        except InvalidSpecifier:
            raise self.fail(f"{path}.{key}", f'invalid version specifier "{value}"') from None
        return value

    def provenance(self, t: Mapping[str, Any], path: str) -> dict[str, Any]:
        return {"source": self.text(t, path, "source"), "confidence": self.confidence(t, path),
                "notes": self.opt_str(t, path, "notes")}


def _cuda_row(r: _Reader, t: Mapping[str, Any], path: str) -> CudaRow:
    return CudaRow(version=r.cuda(t, path, "version"), driver_min=r.text(t, path, "driver_min"),
                   **r.provenance(t, path))


def _compat_row(r: _Reader, t: Mapping[str, Any], path: str) -> CudaCompatRow:
    major = t.get("major")
    if not isinstance(major, int) or isinstance(major, bool):
        raise r.fail(f"{path}.major", "expected an integer")
    return CudaCompatRow(major=major, driver_min=r.text(t, path, "driver_min"),
                         **r.provenance(t, path))


def _gpu_row(r: _Reader, t: Mapping[str, Any], path: str) -> GpuRow:
    cc = r.cuda(t, path, "compute_capability")
    dropped = None if t.get("dropped_in_cuda") is None else r.cuda(t, path, "dropped_in_cuda")
    return GpuRow(
        name=r.text(t, path, "name"), compute_capability=cc,
        first_cuda=r.cuda(t, path, "first_cuda"),
        dropped_in_cuda=dropped, host_arch=r.strs(t, path, "host_arch"),
        aliases=r.strs(t, path, "aliases"), gfd_product=r.strs(t, path, "gfd_product"),
        gke_accelerator=r.strs(t, path, "gke_accelerator"),
        karpenter_gpu_name=r.opt_str(t, path, "karpenter_gpu_name"),
        slurm_gres=r.text(t, path, "slurm_gres"),
        vocab_confidence=r.confidence(t, path, "vocab_confidence"), **r.provenance(t, path),
    )


def _torch_row(r: _Reader, t: Mapping[str, Any], path: str) -> TorchBuildRow:
    sass = r.strs(t, path, "sass")
    for position, cc in enumerate(sass):
        if parse_cuda(cc) is None:
            raise r.fail(f"{path}.sass[{position}]", f'expected "major.minor", got "{cc}"')
    ptx = t.get("ptx")
    if not isinstance(ptx, bool):
        raise r.fail(f"{path}.ptx", "expected true or false")
    return TorchBuildRow(torch=r.specifier(t, path, "torch"), variant=r.text(t, path, "variant"),
                         arch=r.one_of(t, path, "arch", ("x86_64", "aarch64")), sass=sass, ptx=ptx,
                         **r.provenance(t, path))


def _pypi_row(r: _Reader, t: Mapping[str, Any], path: str) -> PypiDefaultRow:
    return PypiDefaultRow(torch=r.specifier(t, path, "torch"),
                          arch=r.one_of(t, path, "arch", ("x86_64", "aarch64")),
                          variant=r.opt_str(t, path, "variant"), **r.provenance(t, path))


def _variants_row(r: _Reader, t: Mapping[str, Any], path: str) -> TorchVariantsRow:
    torch = r.specifier(t, path, "torch")
    if spec_bounds(torch)[0] is None:  # the fix texts name a row's first release
        raise r.fail(f"{path}.torch", f'expected a ">=" or "==" lower bound, got "{torch}"')
    return TorchVariantsRow(torch=torch, arch=r.one_of(t, path, "arch", ("x86_64", "aarch64")),
                            variants=r.strs(t, path, "variants"), **r.provenance(t, path))


def _wheel_row(r: _Reader, t: Mapping[str, Any], path: str) -> RuntimeWheelRow:
    match: Match = "exact" if r.one_of(t, path, "match", ("exact", "at-least")) == "exact" \
        else "at-least"
    packages = tuple(canonicalize_name(p) for p in r.strs(t, path, "packages"))
    return RuntimeWheelRow(component=r.text(t, path, "component"), packages=packages, match=match,
                           **r.provenance(t, path))
