"""`envbuild ci workflow`: the command object the `ci` group registers."""

from __future__ import annotations

from pathlib import Path

import click

from envbuild.cli._boundary import info


@click.command(epilog="""\b
Examples:
  envbuild ci workflow --github --requirements ci/envbuild-requirements.txt \\
      -o .github/workflows/envbuild.yml
  envbuild ci workflow --gitlab --requirements ci/envbuild-requirements.txt -o .gitlab-ci.yml
  envbuild ci workflow --github --from-index --envbuild-version 0.1.0   # your own index
  envbuild ci workflow --github --requirements ci/envbuild.txt -f ml/envbuild.toml""")
@click.option("--github", "github", is_flag=True, help="Write a GitHub Actions workflow.")
@click.option("--gitlab", "gitlab", is_flag=True,
              help="Write a GitLab CI pipeline (builds fan out through a child pipeline).")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write here (atomically) instead of standard output.")
@click.option("-f", "--file", "manifest", metavar="PATH", default=None,
              help="The manifest of a project in a subfolder, from the repository root; every "
                   "envbuild step gets `-f PATH` [default: envbuild.toml].")
@click.option("--lock", "lock", metavar="PATH", default=None,
              help="Its lock, from the repository root [default: envbuild.lock beside the "
                   "manifest].")
@click.option("--branch", default="main", show_default=True,
              help="The default branch: pull requests into it are planned, pushes to it build "
                   "(GitLab reads $CI_DEFAULT_BRANCH).")
@click.option("--python", "python", default="3.12", show_default=True,
              help="The Python the jobs run envbuild with.")
@click.option("--runner", default="ubuntu-24.04", show_default=True,
              help="The GitHub runner label (GitLab jobs run in python:<version>-bookworm, "
                   "pinned by digest).")
@click.option("--requirements", "requirements", metavar="PATH", default=None,
              help="A requirements file in the repository (path from its root) pinning envbuild "
                   "and every dependency with --hash; the jobs run "
                   "`pip install --require-hashes -r PATH`.")
@click.option("--from-index", "from_index", is_flag=True,
              help="Instead, install envbuild==--envbuild-version, unhashed, from the index the "
                   "runners are configured with (envbuild is not on the default index).")
@click.option("--envbuild-version", default=None, metavar="VERSION",
              help="The release --from-index installs.")
def workflow(github: bool, gitlab: bool, output: Path | None, manifest: str | None,
             lock: str | None, branch: str, python: str, runner: str, requirements: str | None,
             from_index: bool, envbuild_version: str | None) -> None:
    """Write a CI workflow: on pull requests, `lock --check` and the plan as the job summary;
    on the default branch, one `ci build --target T --push` job per changed target.

    GitHub: every action is pinned by commit SHA, permissions are read-only, and registry
    credentials come from secrets of the `envbuild-registry` environment. GitLab: the plan
    is a merge-request artifact and the builds a child pipeline made from the plan.

    envbuild is not on the default index: say where the jobs install it from, with
    --requirements (hash-pinned, recommended) or --from-index --envbuild-version.
    """
    from envbuild.ci.gitlab import gitlab_pipeline
    from envbuild.ci.gitref import toplevel
    from envbuild.ci.workflow import WorkflowOptions, github_workflow, missing_inputs
    from envbuild.errors import InputError
    from envbuild.fileio import write_atomic

    if github and gitlab:
        raise click.UsageError("--github and --gitlab exclude each other: write one workflow per run")
    if not github and not gitlab:
        raise click.UsageError("say which CI to write for: --github or --gitlab")
    options = WorkflowOptions(requirements=requirements, from_index=from_index,
                              envbuild_version=envbuild_version, manifest=manifest, lock=lock,
                              branch=branch, python=python,
                              runner=runner)
    text = github_workflow(options) if github else gitlab_pipeline(options)
    if output is None:
        click.echo(text, nl=False)
    else:
        write_atomic(output, text.encode())
        info(f"wrote {output}")
        try:  # written into a repository: check what it will read there
            top: Path | None = toplevel(output.resolve().parent)
        except InputError:
            top = None
        for note in missing_inputs(options, top) if top is not None else []:
            info(f"note: {note}")
