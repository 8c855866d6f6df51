"""Options shared by commands that read or write the lock."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def manifest_options(func: F) -> F:
    func = click.option(
        "--lock",
        "lock_path",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        help="Lock file (default: envbuild.lock beside the manifest).",
    )(func)
    func = click.option(
        "-f",
        "--file",
        "manifest_path",
        type=click.Path(path_type=Path, dir_okay=False),
        default=Path("envbuild.toml"),
        show_default=True,
        help="The manifest.",
    )(func)
    return func


def json_option(func: F) -> F:
    return click.option(
        "--json", "as_json", is_flag=True, help="Print one JSON document on standard output."
    )(func)


def resolve_lock_path(manifest_path: Path, lock_path: Path | None) -> Path:
    return lock_path if lock_path is not None else manifest_path.parent / "envbuild.lock"
