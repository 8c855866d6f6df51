"""`envbuild ci plan`."""

from __future__ import annotations

from pathlib import Path

import click

from envbuild.cli._boundary import emit_json
from envbuild.cli._options import json_option, manifest_options, resolve_lock_path

base_option = click.option(
    "--base", default=None, metavar="REF",
    help="Compare with this git ref (branch, tag, commit) [default: the merge base of HEAD "
         "with origin/HEAD, main or master, whichever exists].")


@click.command(epilog="""\b
Examples:
  envbuild ci plan                          against the merge base with the default branch
  envbuild ci plan --base origin/main --json
  envbuild ci plan --format markdown >> "$GITHUB_STEP_SUMMARY\"""")
@manifest_options
@base_option
@click.option("--format", "fmt", type=click.Choice(["text", "markdown"]), default="text",
              show_default=True, help="Output format (markdown: a pull-request comment).")
@json_option
def plan(manifest_path: Path, lock_path: Path | None, base: str | None, fmt: str,
         as_json: bool) -> None:
    """Per target: unchanged, changed, added or removed, judged by the image hash (a
    dataset change alone rebuilds no image), with the lock diff of each changed target."""
    from envbuild.ci.markdown import render_plan
    from envbuild.ci.plan import make_plan
    from envbuild.scrub import escape

    if as_json and fmt != "text":
        raise click.UsageError("--json and --format markdown exclude each other")
    result = make_plan(manifest_path, resolve_lock_path(manifest_path, lock_path), base)
    if as_json:
        emit_json(result.document())
        return
    if fmt == "markdown":
        click.echo(render_plan(result), nl=False)
        return
    how = "" if result.base.how == "given" else f" (default branch: {result.base.how})"
    click.echo(escape(f"base {result.base.ref} {result.base.commit[:12]}{how}"))
    for failure in result.diff.old.failures:
        click.echo(escape(f"!! base lock does not prove: {failure}"))
    for t in result.targets:
        note = f"  ({t.note})" if t.note else ""
        basis = "target hash, no image" if t.basis == "none" else f"{t.basis} hash"
        click.echo(escape(f"{t.name}: {t.status} by {basis}{note}"))
    click.echo("rebuild: " + (escape(" ".join(result.rebuilt)) if result.rebuilt else "none"))
