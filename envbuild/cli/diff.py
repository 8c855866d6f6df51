"""`envbuild diff`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from envbuild.cli._boundary import emit_json
from envbuild.cli._options import json_option

if TYPE_CHECKING:
    from envbuild.ci.plan import Plan
    from envbuild.lockdiff import FieldChange, LockDiff, TargetDiff
    from envbuild.lockfile.reader import Examined


@click.command(epilog="""\b
Examples:
  envbuild diff                         working envbuild.lock against the one in git HEAD
  envbuild diff old.lock new.lock
  envbuild diff -f app/envbuild.toml    app/envbuild.lock against git HEAD
  envbuild diff --exit-code             exit 1 when anything differs (for CI)
  envbuild diff --base origin/main --format markdown   a pull-request comment""")
@click.argument("old", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.argument("new", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option("-f", "--file", "manifest_path", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="The manifest, for the image plan [default: envbuild.toml "
                                 "beside the lock].")
@click.option("--lock", "lock_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="The working lock [default: envbuild.lock beside the manifest].")
@click.option("--exit-code", is_flag=True, help="Exit 1 when the locks differ.")
@click.option("--base", default=None, metavar="REF",
              help="Compare with the lock at this git ref (branch, tag, commit) [default: HEAD].")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown"]), default="text",
              show_default=True, help="Output format (markdown: a pull-request comment with "
                                      "the images that will be rebuilt).")
@json_option
def diff(old: Path | None, new: Path | None, manifest_path: Path | None, lock_path: Path | None,
         exit_code: bool, base: str | None, fmt: str, as_json: bool) -> None:
    """Compare two locks by content, field by field: packages added, removed, changed,
    re-hashed, and every other value that differs.

    With no argument, compares ./envbuild.lock (or --lock, or the one beside -f) with its
    version in git HEAD (or --base REF); with one, compares that lock with its version
    there. A commit without the lock has no targets: every target is added. A side whose
    content does not match its own hashes (edited by hand) is reported first, and the
    command exits 1. Against a git ref, --json and --format markdown also give the image
    plan (`ci plan`): which images will be rebuilt.
    """
    from envbuild.lockdiff import diff as compare
    from envbuild.lockfile.reader import read as read_lock

    if as_json and fmt != "text":
        raise click.UsageError("--json and --format markdown exclude each other")
    if base is not None and old is not None and new is not None:
        raise click.UsageError("--base compares one lock with git: give at most one lock")
    if lock_path is not None and old is not None:
        raise click.UsageError("--lock names the working lock: give it or a lock argument, not both")
    revision = base or "HEAD"
    if old is not None and new is None:
        new_path = old
    else:
        new_path = new or lock_path or \
            (manifest_path.parent / "envbuild.lock" if manifest_path else Path("envbuild.lock"))
    if base is not None:
        _check_ref(new_path, base)
    after = read_lock(new_path)
    two_files = old is not None and new is not None
    before = read_lock(old) if two_files and old is not None else _from_git(new_path, revision, after)
    result = compare(before, after)
    manifest = manifest_path or new_path.parent / "envbuild.toml"
    plan = _plan(manifest, new_path, None if two_files else revision) \
        if fmt == "markdown" or as_json else None
    if fmt == "markdown":
        _markdown(result, plan, None if two_files else revision)
    elif as_json:
        emit_json({**_document(result), "images": _images(plan)})
    else:
        _render(result)
    if not result.proved or (exit_code and result.differs):
        raise SystemExit(1)


def _from_git(lock_path: Path, revision: str, after: Examined) -> Examined:
    """The lock as committed at `revision`; none there (a commit before the project was
    locked) is an empty lock, as `ci plan` reads such a base: every target added."""
    from envbuild.ci.gitref import commit_of, has_file
    from envbuild.ci.plan import empty_side, refused_side
    from envbuild.errors import InputError
    from envbuild.lockdiff import lock_from_git

    try:
        return lock_from_git(lock_path, revision)
    except InputError as error:
        folder = lock_path.resolve().parent
        commit = commit_of(folder, revision)  # None outside a repository, too
        if commit is None:
            raise
        if has_file(folder, commit, lock_path):  # there, but refused: shown, not trusted
            return refused_side(after, error, str(lock_path), f"{revision}:{lock_path.name}")
        return empty_side(after)


def _plan(manifest: Path, lock_path: Path, revision: str | None) -> Plan | None:
    """The image plan against the same commit, with the manifest beside the lock."""
    if revision is None or not manifest.is_file():
        return None
    from envbuild.ci.plan import make_plan

    return make_plan(manifest, lock_path, revision)


def _images(plan: Plan | None) -> dict[str, Any] | None:
    """`--json`'s image plan: the part of `ci plan --json` the markdown shows."""
    if plan is None:
        return None
    document = plan.document()
    return {"base": document["base"], "base_lock": document["base_lock"],
            "rebuild": document["rebuild"],
            "targets": {n: {k: v for k, v in t.items() if k != "diff"}
                        for n, t in document["targets"].items()}}


def _check_ref(lock_path: Path, ref: str) -> None:
    """A bad --base is bad input (exit 2) named as such, not "no committed version"."""
    from envbuild.ci.gitref import resolve_base, toplevel

    resolve_base(toplevel(lock_path.resolve().parent), ref)


def _markdown(result: LockDiff, plan: Plan | None, revision: str | None) -> None:
    """The pull-request comment; with a git base, the image plan against the same commit,
    so the comment says which images will be rebuilt."""
    from envbuild.ci.markdown import render_diff

    label = f"`{revision}`" if revision is not None else "the old lock"
    click.echo(render_diff(result, plan, base_label=label), nl=False)


def _document(result: LockDiff) -> dict[str, Any]:
    return {"old_lock_hash": result.old.lock.lock_hash, "new_lock_hash": result.new.lock.lock_hash,
            "differs": result.differs, "proved": result.proved,
            "proof": {side: list(failures) for side, failures in result.proof.items()},
            "lock": [f.as_dict() for f in result.lock_fields],
            "targets": {d.name: d.as_dict() for d in result.targets},
            "datasets": {d.name: d.as_dict() for d in result.datasets}}


def _render(result: LockDiff) -> None:
    from envbuild.scrub import escape

    def echo(line: str) -> None:
        click.echo(escape(line))

    for side, examined in (("old", result.old), ("new", result.new)):
        if examined.failures:
            click.secho(f"!! {side} lock does not prove: its content does not match its hashes "
                        "(edited after `envbuild lock` wrote it)", fg="red", bold=True)
            for failure in examined.failures:
                echo(f"!!   {failure}")
    if not result.differs:
        click.echo("locks are identical")
    for change in result.lock_fields:
        echo(f"lock: {_field(change)}")
    for d in result.targets:
        if d.status != "same":
            for line in _target_lines(d):
                echo(line)
    for ds in result.datasets:
        echo(f"dataset {ds.name}: {ds.status} ({ds.old or '-'} -> {ds.new or '-'})")
        for change in ds.fields:
            if change.path != "digest" and ds.status == "changed":
                echo(f"    {_field(change)}")


def _target_lines(d: TargetDiff) -> list[str]:
    """A target's summary (+ added, - removed, ~ version changed, # re-hashed, * other
    values) with each package's differing fields under it, then the target's own fields."""
    per_package: dict[str, list[FieldChange]] = {}
    other: list[FieldChange] = []
    for change in d.fields:
        kind, _, rest = change.path.partition(".")
        name, _, leaf = rest.partition(".")
        if kind == "packages" and leaf:
            per_package.setdefault(name, []).append(change)
        elif kind != "system" and not (kind == "packages" and (change.old is None or change.new is None)):
            other.append(change)  # a whole package added or removed is its +/- line
    lines = [f"target {d.name}: {d.status}"]

    def details(name: str) -> None:
        lines.extend(f"      {_field(c, strip=f'packages.{name}.')}" for c in per_package.get(name, [])
                     if not c.path.endswith(".version"))

    lines += [f"  + {line}" for line in d.added] + [f"  - {line}" for line in d.removed]
    for n, o, w in d.changed:
        lines.append(f"  ~ {n} {o} -> {w}")
        details(n)
    for n in d.rehashed:
        lines.append(f"  # {n}: same version, different file or hash")
        details(n)
    for n in sorted(set(per_package) - {n for n, _, _ in d.changed} - set(d.rehashed)):
        lines.append(f"  * {n}: same version and file, other values differ")
        details(n)
    from envbuild.lockdiff import system_lines

    return lines + system_lines(d.fields) + [f"  {_field(change)}" for change in other]


def _field(change: FieldChange, *, strip: str = "") -> str:
    def show(value: Any) -> str:
        if value is None:
            return "(absent)"
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

    return f"{change.path.removeprefix(strip)}: {show(change.old)} -> {show(change.new)}"
