"""Helpers shared by the test modules: run the CLI in-process, capture its streams."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

from envbuild.cli import main


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def run_cli(args: list[str]) -> Result:
    """Run `envbuild ARGS` through the real entry point and its error boundary."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args)
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    return Result(code=code, out=out.getvalue(), err=err.getvalue())
