"""envbuild's command line: click parses, the core does the work.

Subcommands load lazily so that a command imports only what it uses: a no-op
`envbuild lock` or `lock --check` must start in well under a second.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from envbuild import __version__

# name -> (module, attribute, one-line help). Adding a command is one line here.
_COMMANDS: dict[str, tuple[str, str, str]] = {
    "lock": ("envbuild.cli.lock", "lock", "Resolve every target and write the hashed lock."),
    "show": ("envbuild.cli.show", "show", "Show the lock's targets, counts and hashes."),
    "export": ("envbuild.cli.export", "export",
               "Export one target: pylock, requirements, conda-lock, explicit, nix, dockerfile."),
    "diff": ("envbuild.cli.diff", "diff", "Compare two locks, per target."),
    "data": ("envbuild.cli.data", "data", "Hash, pull and verify datasets."),
    "image": ("envbuild.cli.image", "image", "Build bit-for-bit OCI images of locked targets."),
    "verify": ("envbuild.cli.verify", "verify", "Check an environment and host against the lock."),
    "run": ("envbuild.cli.run", "run", "Verify, then run a command reproducibly."),
    "sync": ("envbuild.cli.sync", "sync", "Make a virtual environment here exactly from the lock."),
    "cluster": ("envbuild.cli.cluster", "cluster", "Emit node pools and jobs pinned to the lock."),
    "ci": ("envbuild.cli.ci", "ci", "Plan and build exactly the images a change rebuilds."),
    "cache": ("envbuild.cli.cache", "cache", "Show or prune the cache of wheels and layers."),
    "nix": ("envbuild.cli.nix", "nix", "Build a locked target with Nix (site, wheels, image)."),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = _COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module = importlib.import_module(entry[0])
        command: click.Command = getattr(module, entry[1])
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Help lists commands without importing them.
        rows = [(name, _COMMANDS[name][2]) for name in sorted(_COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=_LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Exit codes: 0 ok, 1 check failed, 2 bad input, 3 external failure (or internal error).",
)
@click.version_option(__version__, prog_name="envbuild")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks with errors (before the command).")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Reproducible, hardware-aware environments for ML.

    \b
    Examples:
      envbuild lock                     resolve envbuild.toml into envbuild.lock
      envbuild lock --check             exit 1 if the lock is stale (offline)
      envbuild show --json              hashes for scripts
      envbuild export --target h100 --format requirements -o req.txt
    """
    ctx.obj = {"verbose": verbose}


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point."""
    from envbuild.cli._boundary import run

    return run(cli, argv)
