"""`envbuild nix build`: export, nix-build one attribute, report the store paths."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import run_cli
from tests.image.project import Project
from tests.nix.conftest import needs_nix

pytestmark = needs_nix


def test_site_with_an_out_link_and_the_expression_kept(project: Project, tmp_path: Path) -> None:
    link, kept = tmp_path / "result", tmp_path / "expr"
    result = run_cli(["nix", "build", "-f", str(project.manifest), "-o", str(link),
                      "--export-dir", str(kept), "--json"])
    assert result.code == 0, result.err
    document = json.loads(result.out)
    (output,) = document["outputs"]
    assert document == {"target": "cpu", "attr": "site", "expression": str(kept),
                        "outputs": [output]}
    assert str(link.readlink()) == output
    assert (link / "lib/python3.11/site-packages/alpha/__init__.py").is_file()
    assert (kept / "default.nix").is_file()


def test_wheels_lists_one_store_path_per_locked_wheel(project: Project) -> None:
    result = run_cli(["nix", "build", "-f", str(project.manifest), "-A", "wheels"])
    assert result.code == 0, result.err
    names = sorted(Path(line).name.split("-", 1)[1] for line in result.out.splitlines())
    assert names == sorted(p.name for p in project.wheel_dir.iterdir())
