"""The standard package universe of envbuild's tests, built as real files.

Three indexes:

- `pypi`: PyPI-like (JSON and HTML, hashes, upload times, PEP 658 metadata). A small
  dependency graph (alpha, beta, gamma, delta, armless, greeter, filelock), torch 2.5.1 as
  PyPI ships it (x86_64: a CUDA 12.4 build; aarch64: a CPU build without a `+cpu` suffix;
  macOS arm64), torch 2.7.1 (x86_64, CUDA 12.6), and the nvidia runtime wheels of CUDA
  12.1, 12.4, 12.6 and 12.8 (so a mismatched `nvidia-cuda-runtime-cu12 12.1.105` is there).
- `pytorch`: PyTorch-like (HTML only, no hashes, no upload times, as the real one): local
  versions `2.5.1+cu121`, `+cu124`, `+cpu` and `2.7.1+cu128`, the runtime wheels for CUDA
  12.1, 12.4 and 12.8, and its own copy of filelock (the real index mirrors it too).
- `private`: needs basic auth (PRIVATE_AUTH); holds `private-pkg 1.0` (requires beta).

Pins follow the real releases' metadata where the tests care (toolkit wheels of one CUDA
release carry different patch versions, e.g. cupti 12.6.80 beside runtime 12.6.77; torch
+cu121 pins no nvjitlink). Wheel tags follow the real files too: torch 2.5.1 on PyPI is
`manylinux1_x86_64`, the PyTorch index's 2.5.1 builds are `linux_x86_64`, its 2.7.1 builds
`manylinux_2_28_x86_64`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .indexserver import Index, IndexServer, IndexSettings
from .wheelfactory import DistSpec, build_sdist, build_wheel

PRIVATE_AUTH = ("envbuild-user", "s3cr3t-t0ken-must-not-leak")

# Upload instants (PEP 700). BETWEEN_BETAS makes exclude-newer choose beta 1.0 over 2.0;
# BEFORE_TORCH_27 keeps torch 2.5.1 and everything it needs but not torch 2.7.1.
EARLY = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
BETA_1_UPLOADED = datetime(2024, 1, 10, 12, 0, tzinfo=UTC)
BETWEEN_BETAS = datetime(2024, 3, 1, 0, 0, tzinfo=UTC)
BETA_2_UPLOADED = datetime(2024, 6, 10, 12, 0, tzinfo=UTC)
TORCH_25_UPLOADED = datetime(2024, 10, 29, 17, 0, tzinfo=UTC)
BEFORE_TORCH_27 = datetime(2025, 1, 1, 0, 0, tzinfo=UTC)
TORCH_27_UPLOADED = datetime(2025, 6, 4, 17, 0, tzinfo=UTC)

CP311_X86_64_MANYLINUX = "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64"
CP311_AARCH64_MANYLINUX = "cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64"
NV_X86_64 = "py3-none-manylinux2014_x86_64"
NV_AARCH64 = "py3-none-manylinux2014_aarch64"
LINUX_X86_64 = 'platform_system == "Linux" and platform_machine == "x86_64"'

# Per CUDA release: the pins a torch build of that release declares. nvjitlink is absent
# from 12.1 as in torch 2.5.1+cu121, whose metadata does not pin it.
CUDA_PINS: Mapping[str, Mapping[str, str]] = {
    "12.1": {
        "nvidia-cuda-runtime-cu12": "12.1.105",
        "nvidia-cuda-nvrtc-cu12": "12.1.105",
        "nvidia-cuda-cupti-cu12": "12.1.105",
        "nvidia-cudnn-cu12": "9.1.0.70",
        "nvidia-cublas-cu12": "12.1.3.1",
        "nvidia-nccl-cu12": "2.21.5",
    },
    "12.4": {
        "nvidia-cuda-runtime-cu12": "12.4.127",
        "nvidia-cuda-nvrtc-cu12": "12.4.127",
        "nvidia-cuda-cupti-cu12": "12.4.127",
        "nvidia-nvjitlink-cu12": "12.4.127",
        "nvidia-cudnn-cu12": "9.1.0.70",
        "nvidia-cublas-cu12": "12.4.5.8",
        "nvidia-nccl-cu12": "2.21.5",
    },
    "12.6": {
        "nvidia-cuda-runtime-cu12": "12.6.77",
        "nvidia-cuda-nvrtc-cu12": "12.6.77",
        "nvidia-cuda-cupti-cu12": "12.6.80",
        "nvidia-nvjitlink-cu12": "12.6.85",
        "nvidia-cudnn-cu12": "9.5.1.17",
        "nvidia-cublas-cu12": "12.6.4.1",
        "nvidia-nccl-cu12": "2.26.2",
    },
    "12.8": {
        "nvidia-cuda-runtime-cu12": "12.8.57",
        "nvidia-cuda-nvrtc-cu12": "12.8.61",
        "nvidia-cuda-cupti-cu12": "12.8.57",
        "nvidia-nvjitlink-cu12": "12.8.61",
        "nvidia-cudnn-cu12": "9.7.1.26",
        "nvidia-cublas-cu12": "12.8.3.14",
        "nvidia-nccl-cu12": "2.26.2",
    },
}
NVIDIA_UPLOADED = {
    "12.1": datetime(2023, 4, 19, tzinfo=UTC),
    "12.4": datetime(2024, 4, 15, tzinfo=UTC),
    "12.6": datetime(2024, 10, 1, tzinfo=UTC),
    "12.8": datetime(2025, 1, 23, tzinfo=UTC),
}
_NV_LIBS = {
    "nvidia-cuda-runtime-cu12": ("cuda_runtime", "libcudart.so.12"),
    "nvidia-cuda-nvrtc-cu12": ("cuda_nvrtc", "libnvrtc.so.12"),
    "nvidia-cuda-cupti-cu12": ("cuda_cupti", "libcupti.so.12"),
    "nvidia-nvjitlink-cu12": ("nvjitlink", "libnvJitLink.so.12"),
    "nvidia-cudnn-cu12": ("cudnn", "libcudnn.so.9"),
    "nvidia-cublas-cu12": ("cublas", "libcublas.so.12"),
    "nvidia-nccl-cu12": ("nccl", "libnccl.so.2"),
}


@dataclass(frozen=True, kw_only=True, slots=True)
class CorpusFile:
    index: str
    path: Path
    spec: DistSpec
    upload_time: datetime | None

    @property
    def filename(self) -> str:
        return self.path.name


@dataclass(frozen=True, kw_only=True, slots=True)
class Corpus:
    """What `build_corpus` wrote: per index, its settings and files."""

    root: Path
    settings: Mapping[str, IndexSettings]
    files: Mapping[str, tuple[CorpusFile, ...]]

    def filenames(self, index: str) -> list[str]:
        return sorted(f.filename for f in self.files[index])

    def file(self, index: str, filename: str) -> CorpusFile:
        for f in self.files[index]:
            if f.filename == filename:
                return f
        raise KeyError(f"{index}: no file {filename}")

    def indexes(self) -> list[Index]:
        """Fresh `Index` objects for a server (each server gets its own, mutable copies)."""
        built = []
        for name, settings in self.settings.items():
            index = Index(name=name, settings=settings)
            for f in self.files[name]:
                index.add(f.path, upload_time=f.upload_time)
            built.append(index)
        return built

    def server(self) -> IndexServer:
        return IndexServer(self.indexes())


def nvidia_spec(name: str, version: str, tag: str = NV_X86_64) -> DistSpec:
    folder, lib = _NV_LIBS[name]
    requires = ("nvidia-cublas-cu12",) if name == "nvidia-cudnn-cu12" else ()
    return DistSpec(
        name=name,
        version=version,
        tag=tag,
        requires_dist=requires,
        requires_python=">=3",
        module=False,
        files={
            f"nvidia/{folder}/__init__.py": "",
            f"nvidia/{folder}/lib/{lib}": f"\x7fELF stand-in for {lib} {version}\n",
        },
    )


def torch_spec(version: str, tag: str, cuda: str | None, *, pins_marker: bool = True) -> DistSpec:
    """A torch stand-in: a CUDA build (pins, libtorch_cuda.so, version.cuda) or a CPU build."""
    requires = ["filelock"]
    marker = f"; {LINUX_X86_64}" if pins_marker else ""
    if cuda is not None:
        requires += [f"{n}=={v}{marker}" for n, v in CUDA_PINS[cuda].items()]
    libs = ["libtorch_cpu.so", "libc10.so"]
    if cuda is not None:
        libs += ["libtorch_cuda.so", "libc10_cuda.so"]
    files: dict[str, str] = {
        "torch/__init__.py": (
            f'__version__ = "{version}"\n\nfrom torch import version as version\n'
        ),
        "torch/version.py": (
            f"__version__ = '{version}'\ncuda = {cuda!r}\nhip = None\ngit_version = 'stand-in'\n"
        ),
    }
    files.update({f"torch/lib/{lib}": f"\x7fELF stand-in {lib}\n" for lib in libs})
    return DistSpec(
        name="torch",
        version=version,
        tag=tag,
        requires_dist=tuple(requires),
        requires_python=">=3.9.0",
        summary="Tensors and Dynamic neural networks in Python (test stand-in)",
        console_scripts={"torchrun": "torch.distributed.run:main"} if cuda else {},
        files=files,
    )


def build_corpus(root: Path) -> Corpus:
    """Write every index's files under `root/<index>/` and describe them."""
    entries: dict[str, list[tuple[DistSpec, str, datetime | None]]] = {
        "pypi": _pypi(),
        "pytorch": _pytorch(),
        "private": [
            (DistSpec(name="private-pkg", version="1.0", requires_dist=("beta",)), "wheel", EARLY)
        ],
    }
    settings = {
        "pypi": IndexSettings(),
        "pytorch": IndexSettings(publish_hashes=False, publish_upload_times=False, json_api=False),
        "private": IndexSettings(auth=PRIVATE_AUTH),
    }
    files: dict[str, tuple[CorpusFile, ...]] = {}
    for index, specs in entries.items():
        built: list[CorpusFile] = []
        done: set[str] = set()
        for spec, kind, when in specs:
            # CUDA releases share some pins (cuDNN 9.1.0.70 in 12.1 and 12.4): build once.
            filename = spec.sdist_filename if kind == "sdist" else spec.wheel_filename
            if filename in done:
                continue
            done.add(filename)
            build = build_sdist if kind == "sdist" else build_wheel
            path = build(spec, root / index)
            built.append(CorpusFile(index=index, path=path, spec=spec, upload_time=when))
        files[index] = tuple(built)
    return Corpus(root=root, settings=settings, files=files)


def _pypi() -> list[tuple[DistSpec, str, datetime | None]]:
    alpha = DistSpec(
        name="alpha",
        version="1.0",
        requires_dist=("beta>=1", 'gamma; sys_platform == "darwin"'),
        requires_python=">=3.8",
    )
    out: list[tuple[DistSpec, str, datetime | None]] = [
        (alpha, "wheel", EARLY),
        (DistSpec(name="beta", version="1.0"), "wheel", BETA_1_UPLOADED),
        (DistSpec(name="beta", version="2.0"), "wheel", BETA_2_UPLOADED),
        (DistSpec(name="gamma", version="1.0"), "wheel", EARLY),
        (DistSpec(name="delta", version="1.0", requires_dist=("beta",)), "sdist", EARLY),
        (
            DistSpec(
                name="armless",
                version="1.0",
                tag=CP311_X86_64_MANYLINUX,
                files={
                    "armless/__init__.py": '__version__ = "1.0"\n',
                    "armless/_native.cpython-311-x86_64-linux-gnu.so": "\x7fELF stand-in\n",
                },
            ),
            "wheel",
            EARLY,
        ),
        (
            DistSpec(name="greeter", version="1.0", console_scripts={"greet": "greeter:main"}),
            "wheel",
            EARLY,
        ),
        (DistSpec(name="filelock", version="3.16.1", requires_python=">=3.8"), "wheel", EARLY),
    ]
    # Like PyPI, every CUDA release's runtime wheels; the first upload of a shared pin wins.
    for cuda, when in NVIDIA_UPLOADED.items():
        out += _nvidia_set(CUDA_PINS[cuda], when)
    out += [
        (torch_spec("2.5.1", "cp311-cp311-manylinux1_x86_64", "12.4"), "wheel", TORCH_25_UPLOADED),
        (torch_spec("2.5.1", CP311_AARCH64_MANYLINUX, None), "wheel", TORCH_25_UPLOADED),
        (torch_spec("2.5.1", "cp311-none-macosx_11_0_arm64", None), "wheel", TORCH_25_UPLOADED),
        (
            torch_spec("2.7.1", "cp311-cp311-manylinux_2_28_x86_64", "12.6"),
            "wheel",
            TORCH_27_UPLOADED,
        ),
    ]
    return out


def _pytorch() -> list[tuple[DistSpec, str, datetime | None]]:
    out: list[tuple[DistSpec, str, datetime | None]] = [
        (DistSpec(name="filelock", version="3.16.1", requires_python=">=3.8"), "wheel", None),
    ]
    for cuda in ("12.1", "12.4", "12.8"):
        out += _nvidia_set(CUDA_PINS[cuda], None)
    linux = "cp311-cp311-linux_x86_64"
    out += [
        (torch_spec("2.5.1+cu121", linux, "12.1"), "wheel", None),
        (torch_spec("2.5.1+cu124", linux, "12.4"), "wheel", None),
        (torch_spec("2.5.1+cpu", linux, None), "wheel", None),
        (torch_spec("2.7.1+cu128", "cp311-cp311-manylinux_2_28_x86_64", "12.8"), "wheel", None),
    ]
    return out


def _nvidia_set(
    pins: Mapping[str, str], when: datetime | None
) -> list[tuple[DistSpec, str, datetime | None]]:
    return [
        (nvidia_spec(name, version, tag), "wheel", when)
        for name, version in pins.items()
        for tag in (NV_X86_64, NV_AARCH64)
    ]
