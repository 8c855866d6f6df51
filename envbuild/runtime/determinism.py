"""Determinism profiles: the environment a run gets so that it repeats.

envbuild sets environment variables only; it installs no `sitecustomize` and patches no
framework. What each variable does:

- PYTHONHASHSEED=0: Python's str/bytes hashing (set ordering, dict-of-set iteration).
- CUBLAS_WORKSPACE_CONFIG=:4096:8: read by cuBLAS (CUDA >= 10.2); required for
  deterministic cuBLAS results and by `torch.use_deterministic_algorithms(True)`.
- TF_DETERMINISTIC_OPS=1 and TF_CUDNN_DETERMINISTIC=1: TensorFlow's own switches for
  deterministic GPU kernels; XLA_FLAGS=--xla_gpu_deterministic_ops=true: the same for XLA
  (JAX, TensorFlow with XLA). Frameworks that are not installed ignore them.
- ENVBUILD_DETERMINISTIC=1 and ENVBUILD_SEED=N: PyTorch's switch is a function call, not a
  variable, so a training script that wants it calls `apply_framework_switches()` below
  (from an image: `envbuild_runtime.determinism`), which acts on these two variables.
"""

from __future__ import annotations

import importlib
import os
import random
from collections.abc import Mapping

TYPE_CHECKING = False  # typing itself is not imported: start-up time
if TYPE_CHECKING:
    from typing import Any

PROFILES: dict[str, dict[str, str]] = {
    "strict": {"PYTHONHASHSEED": "0", "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
               "TF_DETERMINISTIC_OPS": "1", "TF_CUDNN_DETERMINISTIC": "1",
               "XLA_FLAGS": "--xla_gpu_deterministic_ops=true",
               "ENVBUILD_DETERMINISTIC": "1"},
    "off": {},
}
SEED_ENV = "ENVBUILD_SEED"


class UnknownProfile(ValueError):
    """A determinism profile envbuild does not know."""


def profile_env(profile: str, seed: int) -> dict[str, str]:
    """The variables a run under `profile` gets (the seed is exported under every profile)."""
    if profile not in PROFILES:
        raise UnknownProfile(f'unknown determinism profile "{profile}" '
                             f"(known: {', '.join(sorted(PROFILES))})")
    return {**PROFILES[profile], SEED_ENV: str(seed)}


def apply_framework_switches(environ: Mapping[str, str] | None = None) -> list[str]:
    """Seed and switch on deterministic algorithms in the frameworks that are importable.

    Call it at the top of a training script. Acts only when ENVBUILD_DETERMINISTIC=1 (for
    the seeds: always, with ENVBUILD_SEED, default 0); returns what it did, for logging.
    """
    env = os.environ if environ is None else environ
    seed = int(env.get(SEED_ENV, "0"))
    done = [f"random.seed({seed})"]
    random.seed(seed)
    numpy = _optional("numpy")
    if numpy is not None:
        numpy.random.seed(seed)
        done.append(f"numpy.random.seed({seed})")
    torch = _optional("torch")
    if torch is not None:
        torch.manual_seed(seed)
        done.append(f"torch.manual_seed({seed})")
        if env.get("ENVBUILD_DETERMINISTIC") == "1":
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
            done.append("torch.use_deterministic_algorithms(True); cudnn.benchmark = False")
    return done


def _optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        return None
