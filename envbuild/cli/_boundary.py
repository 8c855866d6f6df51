"""The one place where errors become messages and exit codes.

Every line envbuild writes to standard error passes through here (`_render`, `info`,
`check_failed`) and is escaped: values from manifests, locks and listings reach these
messages, and a control or bidirectional-override character in them must not rewrite the
terminal or reorder the text. With `--json`, a failure also prints exactly one document,
`{"error": {"message", "hint", "exit_code"}}`, on standard output, unless the command had
already printed its own (a `verify --json` that found mismatches reports them itself).

Everything written here also passes through `scrub`: a URL in a message, a hint, a progress
line, a traceback or a JSON document never shows its user information or query string,
whichever core module (or relayed uv or pip output) put it there.
"""

from __future__ import annotations

import io
import json
import sys
import traceback
from typing import Any, NoReturn

import click

from envbuild.errors import EnvbuildError, ExitCode
from envbuild.scrub import escape, scrub

# Whether this invocation asked for --json, and whether a document already went out.
# Module state because the boundary, not click, outlives the command that failed; `run`
# resets it, so in-process invocations (the tests) do not leak into each other.
_state = {"json": False, "emitted": False}


def _clean(text: str) -> str:
    """Credentials out, control and bidirectional characters made visible."""
    return escape(scrub(text))


def _traceback() -> None:
    click.echo(_clean(traceback.format_exc()), err=True, nl=False)


def _verbose(args: list[str]) -> bool:
    # Only the options before the command name: `envbuild -v lock`, never `run -- cmd -v`.
    for arg in args:
        if arg in ("-v", "--verbose"):
            return True
        if not arg.startswith("-"):
            return False
    return False


def _wants_json(args: list[str]) -> bool:
    # Read from the words, not from click: a usage error (an unknown option, a missing
    # value) is raised while parsing, before any option's value is known. Words after
    # `--` are a command's own (`run -- tool --json`).
    for arg in args:
        if arg == "--":
            return False
        if arg == "--json":
            return True
    return False


def run(cli: click.Group, argv: list[str] | None) -> NoReturn:
    args = sys.argv[1:] if argv is None else argv
    verbose = _verbose(args)
    _state["json"], _state["emitted"] = _wants_json(args), False
    try:
        cli.main(args=argv, prog_name="envbuild", standalone_mode=False)
    except EnvbuildError as error:
        if verbose:
            _traceback()
        _fail(error.message, error.hint, int(error.exit_code))
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.Abort:
        _fail("aborted", None, 130)
    except click.ClickException as usage:
        shown = io.StringIO()
        usage.show(file=shown)
        sys.stderr.write(_clean(shown.getvalue()))
        hint = f"see `{usage.ctx.command_path} --help`" \
            if isinstance(usage, click.UsageError) and usage.ctx is not None else None
        _json_error(usage.format_message(), hint, int(ExitCode.BAD_INPUT))
        sys.exit(int(ExitCode.BAD_INPUT))
    except KeyboardInterrupt:
        _fail("interrupted", None, 130)
    except Exception as bug:
        if verbose:
            _traceback()
        _fail(f"internal error: {type(bug).__name__}: {bug}",
              "this is a bug in envbuild; rerun as `envbuild -v ...` and report the traceback",
              int(ExitCode.EXTERNAL))
    sys.exit(0)


def _fail(message: str, hint: str | None, code: int) -> NoReturn:
    _render(message, hint)
    _json_error(message, hint, code)
    sys.exit(code)


def _render(message: str, hint: str | None) -> None:
    click.secho("error: ", fg="red", bold=True, err=True, nl=False)
    click.echo(_clean(message), err=True)
    if hint:
        click.secho("hint: ", fg="cyan", bold=True, err=True, nl=False)
        click.echo(_clean(hint), err=True)


def _json_error(message: str, hint: str | None, code: int) -> None:
    if _state["json"] and not _state["emitted"]:
        emit_json({"error": {"message": _clean(message), "hint": _clean(hint) if hint else None,
                             "exit_code": code}})


def emit_json(document: Any) -> None:
    """Write one JSON document to standard output (and nothing else goes there)."""
    text = scrub(json.dumps(document, indent=2, sort_keys=True)) + "\n"  # whole, before any byte goes out
    _state["emitted"] = True
    sys.stdout.write(text)
    sys.stdout.flush()


def info(message: str) -> None:
    """Progress and messages go to standard error, never standard output."""
    click.echo(_clean(message), err=True)


def warn(message: str) -> None:
    """A warning on standard error, marked as one."""
    click.secho("warning: ", fg="yellow", err=True, nl=False)
    info(message)


def check_failed(message: str) -> NoReturn:
    """Exit 1 after a message: a check ran and found a mismatch."""
    click.echo(_clean(message), err=True)
    sys.exit(int(ExitCode.CHECK_FAILED))
