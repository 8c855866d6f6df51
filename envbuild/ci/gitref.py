"""The git side of CI: naming the base commit and materialising its tree, read-only.

git is run as a subprocess with argument lists (never a shell); a ref from the user is
checked by `git rev-parse --verify` before it is used anywhere else.
"""

from __future__ import annotations

import subprocess
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from envbuild.errors import InputError

# Looked for in this order: the remote's default branch, then the usual local names.
DEFAULT_BRANCHES = ("origin/HEAD", "main", "master")


@dataclass(frozen=True, kw_only=True, slots=True)
class BaseRef:
    ref: str  # as given, or "merge-base HEAD <branch>"
    commit: str  # full hex
    how: str  # "given" | the default branch whose merge base was taken


def _git(folder: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", *args], cwd=folder, capture_output=True, check=False)


def toplevel(folder: Path) -> Path:
    done = _git(folder, "rev-parse", "--show-toplevel")
    if done.returncode != 0:
        raise InputError(f"{folder}: not inside a git repository",
                         hint="CI plans compare with a git ref: run inside the repository")
    return Path(done.stdout.decode().strip())


def commit_of(folder: Path, ref: str) -> str | None:
    """The commit `ref` names, or None when it names none."""
    if not ref or ref.startswith("-"):  # never let a ref be read as an option
        return None
    done = _git(folder, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    return done.stdout.decode().strip() if done.returncode == 0 else None


def resolve_base(folder: Path, ref: str | None) -> BaseRef:
    """The commit to compare with: `ref` when given, else the merge base of HEAD with the
    default branch (the first of DEFAULT_BRANCHES that exists). Raises InputError (exit 2)."""
    toplevel(folder)  # outside a repository, say so before looking for any ref
    if ref is not None:
        commit = commit_of(folder, ref)
        if commit is None:
            raise InputError(f'--base "{ref}" names no commit in this repository',
                             hint=_shallow_hint(folder) or
                             "give a branch, tag or commit: git rev-parse --verify REF")
        return BaseRef(ref=ref, commit=commit, how="given")
    for branch in DEFAULT_BRANCHES:
        if commit_of(folder, branch) is None:
            continue
        done = _git(folder, "merge-base", "HEAD", branch)
        if done.returncode == 0:
            commit = done.stdout.decode().strip()
            return BaseRef(ref=f"merge-base HEAD {branch}", commit=commit, how=branch)
    raise InputError("no default branch to take a merge base with "
                     f"(looked for {', '.join(DEFAULT_BRANCHES)})",
                     hint=_shallow_hint(folder) or "pass --base REF (a branch, tag or commit)")


def _shallow_hint(folder: Path) -> str | None:
    """In a shallow clone (CI checkouts fetch one commit by default) the base is simply not
    there: say how to fetch it, not that the ref is wrong."""
    done = _git(folder, "rev-parse", "--is-shallow-repository")
    if done.stdout.decode().strip() != "true":
        return None
    return ("this is a shallow clone, without the history the base is in: fetch it "
            "(actions/checkout with fetch-depth: 0, GIT_DEPTH: 0 on GitLab, or git fetch --unshallow)")


@contextmanager
def tree_at(folder: Path, commit: str) -> Iterator[Path]:
    """The repository's tree at `commit`, extracted into a scratch folder (removed after).
    `git archive` gives exactly the committed files; tarfile's "data" filter keeps every
    member inside the folder."""
    from envbuild.scratch import scratch_dir

    top = toplevel(folder)
    with scratch_dir("ci-base") as scratch:
        if not _git(top, "ls-tree", "--name-only", commit).stdout.strip():
            # An empty tree (an orphan branch's first commit): git archive writes no tar
            # at all, and the base simply has no files, as a commit without a lock has none.
            yield scratch
            return
        # Streamed: a repository with large committed files is never held in memory.
        with subprocess.Popen(["git", "archive", "--format=tar", commit], cwd=top,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
            assert proc.stdout is not None
            broken = ""
            try:
                with tarfile.open(fileobj=proc.stdout, mode="r|") as archive:
                    archive.extractall(scratch, filter="data")
            except tarfile.TarError as failure:
                broken = str(failure)
            error = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
        if proc.returncode != 0 or broken:
            raise InputError(f"cannot read the tree of {commit[:12]}: {error or broken}")
        yield scratch


def has_file(folder: Path, commit: str, path: Path) -> bool:
    """Whether `commit` (a full hex commit) has the file `path` (inside the repository)."""
    top = toplevel(folder)
    try:
        relative = path.resolve().relative_to(top).as_posix()
    except ValueError:
        return False
    return _git(top, "cat-file", "-e", f"{commit}:{relative}").returncode == 0
