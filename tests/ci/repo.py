"""A git repository with a locked, image-building project, and the commits CI plans over."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import run_cli
from tests.support.bases import tiny_base

MANIFEST = ('[project]\nname = "ci"\npython = "3.11"\nexclude-newer = "2024-03-01T00:00:00Z"\n'
            '[dependencies]\npython = ["alpha"]\n'
            '[targets.cpu]\nplatform = "linux/amd64"\n'
            '[targets.tools]\nplatform = "linux/amd64"\ndependencies = ["greeter"]\n'
            '[datasets.val]\nsource = "data"\nmount = "/data/val"\n'
            '[image]\nbase = "oci:base"\n')


@dataclass
class Repo:
    folder: Path

    @property
    def manifest(self) -> Path:
        return self.folder / "envbuild.toml"

    def git(self, *args: str, input_text: str | None = None) -> str:
        done = subprocess.run(["git", "-C", str(self.folder), "-c", "user.name=t",
                               "-c", "user.email=t@t", *args],
                              check=True, capture_output=True, text=True, input=input_text)
        return done.stdout.strip()

    def edit(self, old: str, new: str) -> None:
        text = self.manifest.read_text()
        assert old in text
        self.manifest.write_text(text.replace(old, new))

    def commit(self, message: str) -> str:
        """Lock (as a developer would before committing), commit, return the commit."""
        result = run_cli(["lock", "-f", str(self.manifest)])
        assert result.code == 0, result.err
        self.git("add", "-A")
        self.git("commit", "-qm", message)
        return self.git("rev-parse", "HEAD")

    def plan(self, *args: str) -> list[str]:
        return ["ci", "plan", "-f", str(self.manifest), *args]


def make_repo(folder: Path, manifest: str = MANIFEST, files: dict[str, str] | None = None) -> Repo:
    """The first commit: two targets on a tiny OCI base, one dataset, and `files` (relative
    path -> text); branch `main`."""
    folder.mkdir()
    for relative, text in (files or {}).items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(text)
    tiny_base(folder / "base")
    (folder / "data").mkdir()
    (folder / "data" / "a.txt").write_text("alpha\n")
    repo = Repo(folder=folder)
    repo.manifest.write_text(manifest)
    repo.git("init", "-q", "-b", "main")
    repo.commit("first")
    return repo
