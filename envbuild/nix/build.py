"""`envbuild nix build` as one core call: export a target's expression, run `nix-build`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envbuild.errors import InputError
from envbuild.nix.export import NixExport, export_nix, refuse_beyond_wheels
from envbuild.nix.run import NixBuild, nix_build
from envbuild.scrub import escape

ATTRIBUTES = ("site", "wheels", "image")


@dataclass(frozen=True, kw_only=True, slots=True)
class NixOptions:
    manifest_path: Path
    lock_path: Path
    target: str | None
    attr: str = "site"
    out_link: Path | None = None  # None: no GC root (the outputs may be collected later)
    export_dir: Path | None = None  # keep the expression here; None: a scratch folder
    python: str | None = None  # the `site` builder's interpreter; None: the expression's


@dataclass(frozen=True, kw_only=True, slots=True)
class NixReport:
    target: str
    attr: str
    expression: Path | None
    outputs: tuple[str, ...]

    def document(self) -> dict[str, Any]:
        return {"target": self.target, "attr": self.attr,
                "expression": str(self.expression) if self.expression else None,
                "outputs": list(self.outputs)}


def nix_build_command(options: NixOptions, progress: Callable[[str], None]) -> NixReport:
    """Export the target's expression (into `export_dir` or a scratch folder) and build it."""
    from envbuild.export import index_urls, pick_target
    from envbuild.lockfile import load
    from envbuild.manifest import load_manifest
    from envbuild.scratch import scratch_dir

    if options.attr not in ATTRIBUTES:
        raise InputError(f'no attribute "{options.attr}" in a Nix export',
                         hint=f"use one of: {', '.join(ATTRIBUTES)}")
    if options.python is not None and not options.python.startswith("/"):
        raise InputError(f'--python "{options.python}" is not an absolute path',
                         hint="Nix builders get no PATH: name the interpreter by its full path")
    _check_paths(options)
    manifest = load_manifest(options.manifest_path)
    lock = load(options.lock_path)
    target = pick_target(lock, options.target)
    refuse_beyond_wheels(target)
    urls = index_urls(manifest)

    def build(folder: Path) -> tuple[str, ...]:
        exported = export_nix(lock, target, urls, folder, option="--export-dir")
        progress(f"nix-build {options.attr} of target {target.name} "
                 f"({len(exported.wheels)} wheels)")
        return realise(exported, options.attr, out_link=options.out_link,
                       python=options.python)

    if options.export_dir is not None:
        outputs = build(options.export_dir)
    else:
        with scratch_dir("nix") as scratch:
            outputs = build(scratch / "expression")
    return NixReport(target=target.name, attr=options.attr, expression=options.export_dir,
                     outputs=outputs)


def _check_paths(options: NixOptions) -> None:
    """What Nix would refuse late, or with a message about its own internals: an
    interpreter that is not there, an out-link over something that is not a link."""
    import os

    if options.python is not None:
        python = Path(options.python)
        if not python.is_file():
            raise InputError(f'--python "{escape(options.python)}": no such file',
                             hint="name an interpreter this machine has, by its full path")
        if not os.access(python, os.X_OK):
            raise InputError(f'--python "{escape(options.python)}" is not executable',
                             hint="name the interpreter itself, by its full path")
    link = options.out_link
    if link is not None and (link.exists() or link.is_symlink()) and not link.is_symlink():
        raise InputError(f"-o {escape(str(link))} exists and is not a symlink; nix-build "
                         "replaces only a result link",
                         hint="choose a new path for -o, or remove that one")


def realise(exported: NixExport, attr: str, *, out_link: Path | None = None,
            python: str | None = None) -> tuple[str, ...]:
    """`nix-build` one attribute of an export; Nix's errors name the locked wheel."""
    return nix_build(NixBuild(folder=exported.folder, attr=attr, names=exported.names(),
                              out_link=out_link, python=python))
