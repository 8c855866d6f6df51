"""The one seam to the GPU driver: NVML through `pynvml`, or a recorded answer.

`probe()` asks NVML (the `nvidia-ml-py` distribution, module `pynvml`) for the driver
version and each GPU's product name and compute capability, and returns a JSON-ready
document. `read()` returns the same facts as `HostGpus`: from the file named by
$ENVBUILD_NVML_PROBE when set (a recorded probe: tests, and hosts whose answer was
recorded), else from `probe()`.

Record a host's answer with `python -m envbuild.runtime.nvml --probe > host.json` (or, from
a bundle, `python envbuild-runtime.pyz probe`).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from .safetext import read_bounded
from .target import RuntimeInputError

TYPE_CHECKING = False  # typing itself is not imported: start-up time
if TYPE_CHECKING:
    from typing import Any

PROBE_ENV = "ENVBUILD_NVML_PROBE"
SCHEMA = 1


class ProbeFileError(RuntimeInputError):
    """A recorded probe named by $ENVBUILD_NVML_PROBE cannot be read."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Gpu:
    index: int
    name: str  # NVML's product name, "NVIDIA H100 80GB HBM3"
    compute_capability: str  # "9.0"
    memory_total_bytes: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class HostGpus:
    nvml: bool  # whether the NVML library could be loaded and initialised
    error: str | None  # why not, when it could not
    driver_version: str | None
    cuda_driver_version: str | None  # the newest CUDA the driver supports, "12.4"
    gpus: tuple[Gpu, ...]
    source: str  # "pynvml" or "probe:PATH"

    def summary(self) -> dict[str, Any]:
        return {"nvml": self.nvml, "error": self.error, "driver": self.driver_version,
                "cuda_driver": self.cuda_driver_version, "gpu_count": len(self.gpus),
                "gpus": [g.name for g in self.gpus], "source": self.source}


def probe() -> dict[str, Any]:
    """Ask NVML now; never raises. The document is what a recorded probe file holds."""
    doc: dict[str, Any] = {"schema": SCHEMA, "nvml": False, "error": None, "binding": None,
                           "driver_version": None, "cuda_driver_version": None, "gpus": []}
    try:
        pynvml: Any = importlib.import_module("pynvml")
    except ImportError:
        doc["error"] = "the NVML binding (pynvml, from nvidia-ml-py) is not installed"
        return doc
    doc["binding"] = _binding_version()
    try:
        pynvml.nvmlInit()
    except Exception as error:  # pynvml raises NVMLError subclasses, e.g. LibraryNotFound
        doc["error"] = f"NVML could not be initialised: {error}"
        return doc
    try:
        doc["nvml"] = True
        doc["driver_version"] = _text(pynvml.nvmlSystemGetDriverVersion())
        cuda = int(pynvml.nvmlSystemGetCudaDriverVersion())
        doc["cuda_driver_version"] = f"{cuda // 1000}.{cuda % 1000 // 10}"
        for index in range(int(pynvml.nvmlDeviceGetCount())):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
            doc["gpus"].append({
                "index": index, "name": _text(pynvml.nvmlDeviceGetName(handle)),
                "compute_capability": f"{major}.{minor}",
                "memory_total_bytes": int(pynvml.nvmlDeviceGetMemoryInfo(handle).total),
            })
    except Exception as error:
        doc["error"] = f"NVML query failed: {error}"
    finally:
        with contextlib.suppress(Exception):  # best effort: the answer is already read
            pynvml.nvmlShutdown()
    return doc


def read(environ: Mapping[str, str]) -> HostGpus:
    """The host's GPUs: the recorded probe named by $ENVBUILD_NVML_PROBE, else NVML."""
    recorded = environ.get(PROBE_ENV)
    if recorded:
        try:
            data = json.loads(read_bounded(recorded).decode("utf-8"))
        except (OSError, ValueError, RecursionError) as error:
            raise ProbeFileError(
                f"{PROBE_ENV}={recorded}: cannot read the probe: {error}") from None
        return from_probe(data, source=f"probe:{recorded}")
    return from_probe(probe(), source="pynvml")


def from_probe(data: Any, *, source: str) -> HostGpus:
    """Parse a probe document; a malformed one raises ProbeFileError naming the key."""
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ProbeFileError(f"{source}: not an NVML probe of schema {SCHEMA}")
    gpus = []
    for position, item in enumerate(data.get("gpus") or []):
        try:
            gpus.append(Gpu(index=int(item["index"]), name=str(item["name"]),
                            compute_capability=str(item["compute_capability"]),
                            memory_total_bytes=item.get("memory_total_bytes")))
        except (KeyError, TypeError, ValueError):
            raise ProbeFileError(f"{source}: malformed entry 'gpus[{position}]'") from None
    return HostGpus(nvml=bool(data.get("nvml")), error=data.get("error"),
                    driver_version=data.get("driver_version"),
                    cuda_driver_version=data.get("cuda_driver_version"), gpus=tuple(gpus),
                    source=source)


def _text(value: Any) -> str:
    # Older bindings return bytes, newer ones str.
    return value.decode() if isinstance(value, bytes) else str(value)


def _binding_version() -> str | None:
    from importlib import metadata

    try:
        return f"nvidia-ml-py {metadata.version('nvidia-ml-py')}"
    except metadata.PackageNotFoundError:
        return "pynvml (version unknown)"


def main(argv: list[str]) -> int:
    if argv != ["--probe"]:
        sys.stderr.write("usage: python -m envbuild.runtime.nvml --probe\n")
        return 2
    sys.stdout.write(json.dumps(probe(), indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
