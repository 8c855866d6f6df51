"""Enumerate the files of a local dataset (one file or a folder), refusing what is unsafe.

A symlink is followed only when it ends at a regular file inside the dataset root; a link
leaving the root, a dangling link, a link to a folder, a device, a socket or a FIFO is
refused, a symlink loop too, and every refusal in the tree is reported together.
"""

# os.* on str paths throughout: a Path object per file costs more than the hash of a
# small file, and a tree may hold millions.
# ruff: noqa: PTH100, PTH116, PTH119

from __future__ import annotations

import errno
import os
import stat
from operator import itemgetter
from pathlib import Path

from envbuild.data.digest import check_relpath
from envbuild.data.filters import PathFilter
from envbuild.errors import InputError, Problem, ProblemsError
from envbuild.runtime.safetext import file_kind

# (path in the dataset, path on disk): plain tuples, as a tree may hold millions of files.
LocalFile = tuple[str, str]
_PATH = itemgetter(0)


def enumerate_files(root: Path, include: PathFilter) -> list[LocalFile]:
    """Every kept file under `root` (or `root` itself when it is a file), sorted by path."""
    top = os.fspath(root)
    try:
        mode = os.stat(top).st_mode
    except FileNotFoundError:
        raise InputError(
            f"dataset path {top} does not exist",
            hint="check the path, or pull the dataset first (envbuild data pull)",
        ) from None
    except PermissionError:
        raise _denied(top) from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise InputError(
                f"dataset path {top} is a symlink loop", hint="point the link at the dataset itself"
            ) from None
        # ENAMETOOLONG, ENOTDIR, EIO...: a path that cannot be read is the user's to fix.
        raise InputError(f"dataset path {top}: {error.strerror or error}") from None
    if stat.S_ISREG(mode):
        name = os.path.basename(os.path.abspath(top))
        return [(name, top)] if include.matches(name) else []
    if not stat.S_ISDIR(mode):
        raise InputError(f"{top} is {file_kind(mode)}, not a file or folder", hint=_REFUSE_HINT)
    files: list[LocalFile] = []
    problems: list[Problem] = []
    real_root = os.path.realpath(top)
    stack = [(top, "")]
    keep_all = not include.patterns
    while stack:
        folder, prefix = stack.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    rel = prefix + entry.name
                    if entry.is_dir(follow_symlinks=False):
                        stack.append((entry.path, rel + "/"))
                    elif entry.is_file(follow_symlinks=False):
                        if keep_all or include.matches(rel):
                            files.append((rel, entry.path))
                    elif include.matches(rel) or entry.is_symlink():
                        problem = _odd_entry(entry.path, real_root)
                        if problem is None:
                            if include.matches(rel):
                                files.append((rel, entry.path))
                        else:
                            problems.append(_problem(entry.path, problem))
        except PermissionError:
            problems.append(_problem(folder, "permission denied; grant read access to it"))
    problems.extend(_undecodable(files))
    if problems:
        raise ProblemsError(problems, hint=_REFUSE_HINT)
    files.sort(key=_PATH)  # paths are unique: the same order as sorting the tuples, at half the cost
    return files


def _undecodable(files: list[LocalFile]) -> list[Problem]:
    # One encode of all names is cheap; names from scandir never hold '/' or NUL.
    try:
        "\0".join(map(_PATH, files)).encode("utf-8")
    except UnicodeEncodeError:
        return [
            _problem(os.fsdecode(os.fsencode(abspath)), f"cannot be stored in a listing: {why}")
            for path, abspath in files
            if (why := check_relpath(path)) is not None
        ]
    return []


_REFUSE_HINT = (
    "a dataset holds regular files only: remove or replace links that leave the root, "
    "devices, sockets and FIFOs, or narrow the dataset with include patterns"
)


def _odd_entry(path: str, real_root: str) -> str | None:
    """None when `path` is a symlink to a regular file inside the root, else why not."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return "vanished while listing; run again"
    if not stat.S_ISLNK(mode):
        return f"is {file_kind(mode)}; only regular files can be hashed"
    target = os.path.realpath(path)
    if os.path.commonpath([real_root, target]) != real_root:
        return f"is a symlink to {target}, outside the dataset root; copy the file in instead"
    try:
        target_mode = os.stat(path).st_mode
    except FileNotFoundError:
        return f"is a dangling symlink to {target}; remove it"
    except OSError as error:
        if error.errno != errno.ELOOP:
            raise
        return "is a symlink loop; remove it or point it at a file"
    if stat.S_ISREG(target_mode):
        return None
    if stat.S_ISDIR(target_mode):
        return "is a symlink to a folder; replace it by the folder or list that folder itself"
    return f"is a symlink to {file_kind(target_mode)}; only regular files can be hashed"


def _problem(path: str, message: str) -> Problem:
    return Problem(file=path, line=None, key="", message=message)


def _denied(path: str) -> InputError:
    return InputError(f"permission denied reading {path}", hint="grant read access to it")
