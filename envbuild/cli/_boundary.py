"""The one place where errors become messages and exit codes."""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any, NoReturn

import click

from envbuild.errors import EnvbuildError, ExitCode


def _verbose(args: list[str]) -> bool:
    # Only the options before the command name: `envbuild -v lock`, never `run -- cmd -v`.
    for arg in args:
        if arg in ("-v", "--verbose"):
            return True
        if not arg.startswith("-"):
            return False
    return False


def run(cli: click.Group, argv: list[str] | None) -> NoReturn:
    verbose = _verbose(sys.argv[1:] if argv is None else argv)
    try:
        cli.main(args=argv, prog_name="envbuild", standalone_mode=False)
    except EnvbuildError as error:
        if verbose:
            traceback.print_exc()
        _render(error)
        sys.exit(int(error.exit_code))
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as usage:
        usage.show()
        sys.exit(int(ExitCode.BAD_INPUT))
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception as bug:
        if verbose:
            traceback.print_exc()
        _render(EnvbuildError(f"internal error: {type(bug).__name__}: {bug}",
                              hint="this is a bug in envbuild; rerun as `envbuild -v ...` and report "
                                   "the traceback"))
        sys.exit(int(ExitCode.EXTERNAL))
    sys.exit(0)


def _render(error: EnvbuildError) -> None:
    click.secho("error: ", fg="red", bold=True, err=True, nl=False)
    click.echo(error.message, err=True)
    if error.hint:
        click.secho("hint: ", fg="cyan", bold=True, err=True, nl=False)
        click.echo(error.hint, err=True)


def emit_json(document: Any) -> None:
    """Write one JSON document to standard output (and nothing else goes there)."""
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True) + "\n")


def info(message: str) -> None:
    """Progress and messages go to standard error, never standard output."""
    click.echo(message, err=True)


def warn(message: str) -> None:
    """A warning on standard error, marked as `lock` marks its warnings."""
    click.secho("warning: ", fg="yellow", err=True, nl=False)
    click.echo(message, err=True)


def check_failed(message: str) -> NoReturn:
    """Exit 1 after a message: a check ran and found a mismatch."""
    click.echo(message, err=True)
    sys.exit(int(ExitCode.CHECK_FAILED))
