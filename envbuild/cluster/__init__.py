"""Cluster specs pinned to a lock: node pools and training jobs, one module per provider.

`envbuild cluster` reads the `[cluster]` and `[run]` sections of the manifest
(`manifest.py`), joins each pool to its locked target and image (`plan.py`), and hands the
plan to each chosen provider's emitter (`interface.Emitter`; `EMITTERS` below names them).
"""

from __future__ import annotations

PROVIDERS = ("kubernetes", "karpenter", "gke", "eks", "slurm")
