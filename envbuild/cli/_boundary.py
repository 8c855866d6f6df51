"""The one place where errors become messages and exit codes.

Everything written here passes through `scrub`: a URL in a message, a hint, a progress
line, a traceback or a JSON document never shows its user information or query string,
whichever core module (or relayed uv or pip output) put it there.
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import IO, Any, NoReturn, cast

import click

from envbuild.errors import EnvbuildError, ExitCode
from envbuild.scrub import scrub


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
            _traceback()
        _render(error)
        sys.exit(int(error.exit_code))
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as usage:
        # A usage error quotes the option's value, which may be a URL with a token.
        usage.show(file=cast(IO[Any], _Scrubbed(sys.stderr)))
        sys.exit(int(ExitCode.BAD_INPUT))
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception as bug:
        if verbose:
            _traceback()
        _render(EnvbuildError(f"internal error: {type(bug).__name__}: {bug}",
                              hint="this is a bug in envbuild; rerun as `envbuild -v ...` and report "
                                   "the traceback"))
        sys.exit(int(ExitCode.EXTERNAL))
    sys.exit(0)


class _Scrubbed:
    """A text stream that scrubs what is written through it."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return int(self._stream.write(scrub(text)))

    def flush(self) -> None:
        self._stream.flush()


def _traceback() -> None:
    click.echo(scrub(traceback.format_exc()), err=True, nl=False)


def _render(error: EnvbuildError) -> None:
    click.secho("error: ", fg="red", bold=True, err=True, nl=False)
    click.echo(scrub(error.message), err=True)
    if error.hint:
        click.secho("hint: ", fg="cyan", bold=True, err=True, nl=False)
        click.echo(scrub(error.hint), err=True)


def emit_json(document: Any) -> None:
    """Write one JSON document to standard output (and nothing else goes there)."""
    sys.stdout.write(scrub(json.dumps(document, indent=2, sort_keys=True)) + "\n")


def info(message: str) -> None:
    """Progress and messages go to standard error, never standard output."""
    click.echo(scrub(message), err=True)


def check_failed(message: str) -> NoReturn:
    """Exit 1 after a message: a check ran and found a mismatch."""
    click.echo(scrub(message), err=True)
    sys.exit(int(ExitCode.CHECK_FAILED))
