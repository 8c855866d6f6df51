"""Help texts name what the commands do: every export format, every check of verify."""

from __future__ import annotations

import click

from envbuild.cli.export import export
from tests.helpers import run_cli


def _formats() -> list[str]:
    (option,) = [p for p in export.params if p.name == "fmt"]
    assert isinstance(option.type, click.Choice)
    return [str(c) for c in option.type.choices]


def test_export_summary_and_first_line_name_every_format() -> None:
    top = run_cli(["--help"])
    assert top.code == 0
    lines = top.out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  export "))
    summary = " ".join(line.strip() for line in lines[start:start + 2])
    own = run_cli(["export", "--help"])
    first = " ".join(own.out.split("\n\n")[1].split())
    assert len(_formats()) == 6
    for fmt in _formats():
        assert fmt in summary, fmt
        assert fmt in first, fmt


def test_verify_help_names_conda_and_debian_checks() -> None:
    result = run_cli(["verify", "--help"])
    assert result.code == 0
    text = " ".join(result.out.split())
    assert "conda packages are checked against the conda prefix's conda-meta records" in text
    assert "Debian packages ([system]) against dpkg's status database, inside an image" in text
