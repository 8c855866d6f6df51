"""The hardware data file and its loader: rows, lookups, aliases, canonical form, bad data."""

from __future__ import annotations

from typing import Any

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from envbuild.canonical import canonical_bytes
from envbuild.hardware.facts import HardwareDataError, gpu_key, load_facts, parse_facts
from envbuild.hardware.rows import Consulted, Row

from .support import data

BRIEF_GPUS = ("V100", "T4", "A100", "A100-40GB", "A100-80GB", "A10G", "L4", "L40S", "H100",
              "H200", "GH200", "B200", "GB200", "B300", "RTX PRO 6000")


def test_loaded_once_and_versioned() -> None:
    assert load_facts() is load_facts()
    assert load_facts().schema_version == 1


def test_every_row_names_its_source_and_confidence() -> None:
    facts = load_facts()
    rows: list[Any] = [*facts.cudas, *facts.cuda_compats, *facts.gpus, *facts.torch_builds,
                       *facts.torch_variants, *facts.pypi_defaults, *facts.runtime_wheels]
    for row in rows:
        assert row.source and row.confidence in ("verified", "secondary")
        if row.confidence == "secondary":
            assert row.notes or "secondary" in row.source, row.row_id


def test_rows_marked_verify_in_the_reference_are_secondary() -> None:
    facts = load_facts()
    assert {r.version for r in facts.cudas if r.confidence == "secondary"} == {"13.1", "13.2"}
    compat = {r.major: r.confidence for r in facts.cuda_compats}
    assert compat == {11: "secondary", 12: "verified", 13: "secondary"}


@pytest.mark.parametrize(("version", "floor"), [
    ("11.8", "520.61.05"), ("12.4", "550.54.14"), ("12.8", "570.26"), ("13.0", "580.65.06")])
def test_cuda_driver_floors(version: str, floor: str) -> None:
    row = load_facts().cuda(version)
    assert row is not None and row.driver_min == floor


def test_unknown_cuda_is_none_and_versions_sorted() -> None:
    facts = load_facts()
    assert facts.cuda("12.7") is None and facts.cuda("twelve") is None
    versions = facts.cuda_versions()
    assert versions[0] == "11.8" and versions[-1] == "13.2"
    assert [Version(v) for v in versions] == sorted(Version(v) for v in versions)


def test_minor_version_compat_floors() -> None:
    facts = load_facts()
    assert [facts.cuda_compat(m).driver_min for m in (12, 13)] == ["525.60.13", "580.65.06"]  # type: ignore[union-attr]


def test_the_gpus_the_brief_names_are_all_there() -> None:
    assert set(BRIEF_GPUS) <= set(load_facts().gpu_names())


@pytest.mark.parametrize(("name", "canonical"), [
    ("H100", "H100"), ("h100", "H100"), ("H100-SXM", "H100"), ("h100 pcie", "H100"),
    ("H100_NVL", "H100"), ("NVIDIA H100", "H100"), ("Tesla V100", "V100"), ("v100-sxm2", "V100"),
    ("a100-80gb", "A100-80GB"), ("A100 40GB", "A100-40GB"), ("a100", "A100"), ("gh200", "GH200"),
    ("GB200-NVL72", "GB200"), ("rtx pro 6000", "RTX PRO 6000"), ("RTX-PRO-6000", "RTX PRO 6000"),
    ("l40s", "L40S"), ("A10G", "A10G")])
def test_gpu_aliases(name: str, canonical: str) -> None:
    row = load_facts().gpu(name)
    assert row is not None and row.name == canonical


def test_unknown_gpu_and_suggestions() -> None:
    facts = load_facts()
    assert facts.gpu("H1000") is None
    assert facts.suggest_gpu("H1000") == "H100"
    assert facts.suggest_gpu("B2000") == "B200"
    assert facts.suggest_gpu("quantum-annealer") is None


@pytest.mark.parametrize(("name", "cc", "sm", "first"), [
    ("V100", "7.0", "sm_70", "9.0"), ("T4", "7.5", "sm_75", "10.0"), ("L4", "8.9", "sm_89", "11.8"),
    ("H200", "9.0", "sm_90", "11.8"), ("B200", "10.0", "sm_100", "12.8"),
    ("B300", "10.3", "sm_103", "12.9"), ("RTX PRO 6000", "12.0", "sm_120", "12.8"),
    ("H100", "9.0", "sm_90", "11.8"), ("H20", "9.0", "sm_90", "11.8"),
    ("H800", "9.0", "sm_90", "11.8"), ("GH200", "9.0", "sm_90", "11.8"),
    ("GB200", "10.0", "sm_100", "12.8"), ("GB300", "10.3", "sm_103", "12.9"),
    ("A100", "8.0", "sm_80", "11.0"), ("A30", "8.0", "sm_80", "11.0"),
    ("A10G", "8.6", "sm_86", "11.1"), ("A10", "8.6", "sm_86", "11.1"),
    ("A40", "8.6", "sm_86", "11.1"), ("L40S", "8.9", "sm_89", "11.8"),
    ("L40", "8.9", "sm_89", "11.8")])
def test_compute_capabilities(name: str, cc: str, sm: str, first: str) -> None:
    row = load_facts().gpu(name)
    assert row is not None
    assert (row.compute_capability, row.sm, row.first_cuda) == (cc, sm, first)


def test_provider_vocabularies() -> None:
    facts = load_facts()
    h100, l4, a10g = facts.gpu("H100"), facts.gpu("L4"), facts.gpu("A10G")
    assert h100 is not None and l4 is not None and a10g is not None
    assert {"NVIDIA-H100-80GB-HBM3", "NVIDIA-H100-PCIe", "NVIDIA-H100-NVL"} <= set(h100.gfd_product)
    assert "nvidia-h100-80gb" in h100.gke_accelerator and h100.karpenter_gpu_name == "h100"
    assert l4.gfd_product == ("NVIDIA-L4",) and l4.gke_accelerator == ("nvidia-l4",)
    assert a10g.karpenter_gpu_name == "a10g" and a10g.gke_accelerator == ()
    assert facts.gpu("A100-40GB").gke_accelerator == ("nvidia-tesla-a100",)  # type: ignore[union-attr]
    for row in facts.gpus:
        assert row.slurm_gres == row.slurm_gres.lower() and " " not in row.slurm_gres


def test_grace_parts_need_arm_hosts() -> None:
    facts = load_facts()
    assert facts.gpu("GH200").host_arch == ("aarch64",)  # type: ignore[union-attr]
    assert facts.gpu("H100").host_arch == ()  # type: ignore[union-attr]


def test_cu128_builds_differ_by_torch_release() -> None:
    facts = load_facts()
    r270 = facts.torch_build("2.7.0+cu128", "cu128", "x86_64")
    r271 = facts.torch_build("2.7.1+cu128", "cu128", "x86_64")
    r280 = facts.torch_build("2.8.0", "cu128", "x86_64")
    assert r270 and r271 and r280
    assert len({r270.row_id, r271.row_id, r280.row_id}) == 3
    assert r270.confidence == "secondary" and r271.confidence == "verified"
    assert "7.0" not in r271.sass and "7.0" in r280.sass and "10.0" in r271.sass
    assert facts.torch_build("2.10.0", "cu128", "x86_64") is None
    assert facts.torch_build("2.9.0", "cu130", "x86_64").ptx  # type: ignore[union-attr]


def test_rows_of_one_key_do_not_overlap() -> None:
    facts = load_facts()
    probes = [Version(f"2.{minor}.{patch}") for minor in range(3, 12) for patch in range(4)]
    probes += [Version("2.8.0.dev20250601"), Version("2.7.0rc1")]

    def hits(specs: list[str], probe: Version) -> int:
        return sum(SpecifierSet(s).contains(probe, prereleases=True) for s in specs)

    for variant, arch in {(r.variant, r.arch) for r in facts.torch_builds}:
        specs = [r.torch for r in facts.torch_builds if (r.variant, r.arch) == (variant, arch)]
        assert all(hits(specs, probe) <= 1 for probe in probes), (variant, arch)
    for arch in ("x86_64", "aarch64"):
        specs = [r.torch for r in facts.pypi_defaults if r.arch == arch]
        assert all(hits(specs, probe) <= 1 for probe in probes), arch
        specs = [r.torch for r in facts.torch_variants if r.arch == arch]
        assert all(hits(specs, probe) <= 1 for probe in probes), arch


@pytest.mark.parametrize(("torch", "variants"), [
    ("2.0.1", ("cpu", "cu117", "cu118")), ("2.3.1", ("cpu", "cu118", "cu121")),
    ("2.4.1", ("cpu", "cu118", "cu121", "cu124")), ("2.5.1", ("cpu", "cu118", "cu121", "cu124")),
    ("2.6.0", ("cpu", "cu118", "cu124", "cu126")), ("2.7.1", ("cpu", "cu118", "cu126", "cu128")),
    ("2.8.0", ("cpu", "cu126", "cu128", "cu129")), ("2.9.1", ("cpu", "cu126", "cu128", "cu130"))])
def test_builds_each_torch_release_publishes(torch: str, variants: tuple[str, ...]) -> None:
    row = load_facts().torch_release(torch, "x86_64")
    assert row is not None and row.variants == variants


def test_releases_outside_the_table_are_unknown() -> None:
    facts = load_facts()
    assert facts.torch_release("1.13.1", "x86_64") is None
    assert facts.torch_release("2.10.0", "x86_64") is None
    assert facts.torch_release("2.5.1", "aarch64") is None
    assert [r.torch for r in facts.releases_with("cu118", "x86_64")] == [
        ">=2.0,<2.1", ">=2.1,<2.2", ">=2.2,<2.3", ">=2.3,<2.4", ">=2.4,<2.5", ">=2.5,<2.6",
        ">=2.6,<2.7", ">=2.7,<2.8"]


def test_every_compiled_build_is_one_the_release_publishes() -> None:
    # The two tables come from different sources; a build with compiled architectures that
    # the install matrix does not list would make the fixes contradict the GPU checks.
    facts = load_facts()
    for build in (b for b in facts.torch_builds if b.arch == "x86_64"):
        for minor in range(0, 10):
            release = Version(f"2.{minor}.0")
            if SpecifierSet(build.torch).contains(release) or build.torch == f"==2.{minor}.0":
                row = facts.torch_release(str(release), "x86_64")
                assert row is not None and build.variant in row.variants, (build.row_id, release)


@pytest.mark.parametrize(("torch", "arch", "variant"), [
    ("2.4.1", "x86_64", "cu121"), ("2.5.1", "x86_64", "cu124"), ("2.6.0", "x86_64", "cu124"),
    ("2.7.1", "x86_64", "cu126"), ("2.8.0", "x86_64", "cu128"), ("2.9.0", "x86_64", "cu128"),
    ("2.5.1", "aarch64", "cpu"), ("2.4.0", "aarch64", "cpu"), ("2.10.0", "aarch64", None),
    ("2.10.0", "x86_64", None), ("1.13.1", "x86_64", None)])
def test_pypi_default_variant(torch: str, arch: str, variant: str | None) -> None:
    assert load_facts().pypi_default_variant(torch, arch) == variant


def test_pypi_defaults_after_2_5_on_arm_are_marked_unsure() -> None:
    row = load_facts().pypi_default("2.7.0", "aarch64")
    assert row is not None and row.confidence == "secondary"


@pytest.mark.parametrize(("package", "component"), [
    ("nvidia-cuda-runtime-cu12", "cuda-runtime"), ("nvidia_cuda_runtime_cu12", "cuda-runtime"),
    ("nvidia-cuda-runtime", "cuda-runtime"), ("nvidia-cuda-nvrtc-cu13", "cuda-nvrtc"),
    ("nvidia-cuda-cupti-cu12", "cuda-cupti"), ("nvidia-nvjitlink-cu12", "nvjitlink"),
    ("nvidia-nvtx-cu12", "nvtx"), ("nvidia-cudnn-cu12", None), ("nvidia-nccl-cu12", None)])
def test_runtime_wheels(package: str, component: str | None) -> None:
    row = load_facts().runtime_wheel(package)
    assert (row.component if row else None) == component


def test_canonical_rows_hold_facts_not_provenance() -> None:
    facts = load_facts()
    rows: list[Row] = [*facts.cudas, *facts.gpus, *facts.torch_builds, *facts.pypi_defaults,
                       *facts.runtime_wheels, *facts.cuda_compats]
    for row in rows:
        plain = row.canonical()
        assert plain["row_id"] == row.row_id
        assert not {"source", "confidence", "vocab_confidence", "notes"} & set(plain)
        assert None not in plain.values()
        assert not any(isinstance(v, tuple) for v in plain.values())
        canonical_bytes(plain)  # no floats, str keys
    assert len({r.row_id for r in facts.gpus}) == len(facts.gpus)


def test_consulted_records_rows_and_misses_sorted() -> None:
    facts, seen = load_facts(), Consulted()
    facts.gpu("H100", consulted=seen)
    facts.cuda("12.7", consulted=seen)
    facts.cuda("12.4", consulted=seen)
    ids = [row["row_id"] for row in seen.rows()]
    assert ids == ["cuda:12.4", "gpu:H100", "miss:cuda:12.7"]
    assert seen.rows()[2] == {"row_id": "miss:cuda:12.7", "missing": True}


def test_gpu_key_normalisation() -> None:
    assert gpu_key("NVIDIA  H100_SXM") == gpu_key("h100-sxm") == "h100-sxm"


def _broken(edit: Any) -> str:
    d = data()
    edit(d)
    with pytest.raises(HardwareDataError) as caught:
        parse_facts(d)
    return caught.value.message


def test_bad_data_names_the_dotted_key() -> None:
    assert _broken(lambda d: d.update(schema_version=2)) == \
        "hardware.toml: schema_version: expected 1, got 2"
    assert _broken(lambda d: d["gpu"][0].pop("source")) == \
        "hardware.toml: gpu[0].source: expected a non-empty string"
    assert _broken(lambda d: d["gpu"][1].update(compute_capability=7.5)) == \
        "hardware.toml: gpu[1].compute_capability: expected a non-empty string"
    assert _broken(lambda d: d["torch_build"][0]["sass"].append("sm_90")) == \
        'hardware.toml: torch_build[0].sass[8]: expected "major.minor", got "sm_90"'
    assert _broken(lambda d: d["torch_build"][0].update(torch="2.4+")) == \
        'hardware.toml: torch_build[0].torch: invalid version specifier "2.4+"'
    assert _broken(lambda d: d["cuda"][0].update(confidence="probably")) == \
        'hardware.toml: cuda[0].confidence: expected one of verified, secondary, got "probably"'
    assert _broken(lambda d: d["gpu"].append(dict(d["gpu"][0], name="V100-clone"))) == \
        'hardware.toml: GPU name "Tesla V100" of V100-clone is already a name of V100'
    assert _broken(lambda d: d["cuda"].append(dict(d["cuda"][0]))) == \
        "hardware.toml: duplicate rows: cuda:11.8"
    assert _broken(lambda d: d["torch_variants"][0].update(torch="<2.1")) == \
        'hardware.toml: torch_variants[0].torch: expected a ">=" or "==" lower bound, got "<2.1"'
    assert _broken(lambda d: d["torch_variants"][0].update(variants="cu118")) == \
        "hardware.toml: torch_variants[0].variants: expected an array of non-empty strings"
