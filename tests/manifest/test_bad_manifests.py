"""One fixture per failure: exact message lines and exit code 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_cli

BAD = Path(__file__).parent / "bad"
CASES = sorted(p.name for p in BAD.iterdir() if p.is_dir())


@pytest.mark.parametrize("case", CASES)
def test_bad_manifest_is_refused_with_exact_message(case: str, tmp_path: Path) -> None:
    manifest = BAD / case / "envbuild.toml"
    expected = (BAD / case / "expected.txt").read_text().splitlines()
    result = run_cli(["lock", "-f", str(manifest), "--lock", str(tmp_path / "x.lock")])
    assert result.code == 2, result.err
    problem_lines = [line for line in result.err.splitlines()
                     if line.startswith("envbuild.toml")]
    assert problem_lines == expected
    assert "Traceback" not in result.err
    assert result.out == ""
    assert not (tmp_path / "x.lock").exists()


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    manifest = tmp_path / "envbuild.toml"
    manifest.write_text(
        '[project]\nname = "x"\npython = "3.11"\ncolour = 1\n\n'
        '[targets.a]\nplatform = "linux/amd65"\n\n[targets.b]\nplatform = "linux/amd64"\nfoo = 1\n'
    )
    result = run_cli(["lock", "-f", str(manifest)])
    assert result.code == 2
    assert result.err.splitlines()[:4] == [
        "error: 3 problems found",
        'envbuild.toml:4: project.colour: unknown key; allowed: name, python, exclude-newer',
        'envbuild.toml:7: targets.a.platform: unknown platform "linux/amd65"; did you mean "linux/amd64"?',
        'envbuild.toml:11: targets.b.foo: unknown key; allowed: platform, cuda, gpus, sources, '
        "dependencies, groups, glibc, resolver, base, system-packages, conda",
    ]
