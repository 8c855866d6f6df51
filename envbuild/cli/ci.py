"""`envbuild ci`: plan and build exactly the images a change rebuilds.

Each subcommand lives in its own module; adding one is one import and one add_command.
"""

from __future__ import annotations

import click

from envbuild.cli.ci_build import build
from envbuild.cli.ci_plan import plan
from envbuild.cli.ci_workflow import workflow


@click.group()
def ci() -> None:
    """Plan and build, for CI, exactly the images whose image hash changed; write the workflow."""


ci.add_command(plan)
ci.add_command(build)
ci.add_command(workflow)
