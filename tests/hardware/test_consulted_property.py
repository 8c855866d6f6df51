"""Property: a target's consulted rows depend only on the rows it reads, never on the others."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from envbuild.hardware.compat import check_target
from envbuild.hardware.facts import load_facts

from .support import facts_with, index_torch, pypi_torch, target

GPUS = st.lists(st.sampled_from(load_facts().gpu_names()), max_size=3, unique=True)
CUDAS = st.sampled_from([None, *load_facts().cuda_versions()])
TORCHES = st.sampled_from(["2.4.1+cu118", "2.5.1+cu121", "2.6.0+cu126", "2.7.1+cu128",
                           "2.8.0+cu129", "2.9.0+cu130", "2.10.0+cu128", "2.5.1+cpu"])
PLATFORMS = st.sampled_from(["linux/amd64", "linux/arm64", "darwin/arm64"])
UNRELATED = {"name": "ZZ-9000", "compute_capability": "9.0", "first_cuda": "12.0",
             "slurm_gres": "zz9000", "aliases": ["ZZ9K"], "source": "test",
             "confidence": "verified", "vocab_confidence": "verified"}
WITH_UNRELATED = facts_with(gpu=[UNRELATED])
ALL_IDS = {row.row_id for rows in (WITH_UNRELATED.cudas, WITH_UNRELATED.cuda_compats,
                                   WITH_UNRELATED.gpus, WITH_UNRELATED.torch_builds,
                                   WITH_UNRELATED.pypi_defaults, WITH_UNRELATED.runtime_wheels)
           for row in rows}


@settings(max_examples=200, deadline=None)
@given(gpus=GPUS, cuda=CUDAS, torch=TORCHES, platform=PLATFORMS, pypi=st.booleans())
def test_unrelated_rows_never_enter_a_target(gpus: list[str], cuda: str | None, torch: str,
                                             platform: str, pypi: bool) -> None:
    packages = pypi_torch("2.5.1", "12.4.127") if pypi else index_torch(torch)
    hw = target("t", *gpus, cuda=cuda, platform=platform)
    before = check_target(hw, packages)
    after = check_target(hw, packages, facts=WITH_UNRELATED)
    assert after.consulted == before.consulted
    assert (after.problems, after.warnings) == (before.problems, before.warnings)
    ids = [row["row_id"] for row in after.consulted]
    assert ids == sorted(ids)
    assert all(i in ALL_IDS or i.startswith("miss:") for i in ids)
    assert "gpu:ZZ-9000" not in ids
