"""`nix-build` through one subprocess wrapper: Nix's failures become envbuild's errors.

| Nix says | envbuild raises | exit |
|---|---|---|
| (no `nix-build` on PATH) | `NixMissing`, how to install | 2 |
| hash mismatch in a fixed-output derivation | `NixHashMismatch`, naming the wheel | 1 |
| the `site` builder refuses a wheel (a member outside the site, a clash) | `NixWheelRefused` | 1 |
| unable to download, or another builder failed | `NixBuildFailed` | 3 |
| anything before a build started (evaluation) | `NixEvalError` | 2 |

Options always passed, and why: `substituters ''` (else every build waits about 5 s on a
binary cache it cannot reach); `extra-sandbox-paths` for the host Python's folders (the
`site` builder runs it by absolute path, and with the sandbox on it sees only the store);
`build-users-group ''` when run as root on a machine without the `nixbld` group (Debian's
`nix-bin` names it in its defaults but does not create it).
"""

from __future__ import annotations

import grp
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from envbuild.errors import CheckFailed, ExternalError, InputError
from envbuild.scrub import scrub

_SANDBOX_PATHS = ("/usr", "/lib?", "/lib64?", "/bin?")
_MISMATCH = re.compile(r"hash mismatch in fixed-output derivation '(/nix/store/[^']+)':"
                       r"\s+specified:\s+(\S+)\s+got:\s+(\S+)")
_DOWNLOAD = re.compile(r"unable to download '([^']+)': ([^\n]+)")
_UNPACK = re.compile(r"envbuild-unpack: ([^\n]+)")  # unpack.py's own refusals
_BUILDER = re.compile(r"builder for '(/nix/store/[^']+)' failed[^\n]*")
_STARTED = re.compile(r"^(these \d+ derivations will be built|this derivation will be built"
                      r"|building ')", re.MULTILINE)
_NO_NIXPKGS = "file 'nixpkgs' was not found in the Nix search path"
_TAIL = 20  # lines of Nix's output kept in a message
_NOISE = ("warning: the group",)  # said on every run where nixbld is missing


class NixMissing(InputError):
    """`nix-build` is not on PATH."""


class NixEvalError(InputError):
    """Nix could not evaluate the expression."""


class NixHashMismatch(CheckFailed):
    """A fetched file is not the one the lock names."""


class NixWheelRefused(CheckFailed):
    """A locked wheel cannot be unpacked into the site."""


class NixBuildFailed(ExternalError):
    """A fetch or a builder failed."""


@dataclass(frozen=True, kw_only=True, slots=True)
class NixBuild:
    folder: Path  # holds default.nix
    attr: str  # `-A` path: site, wheels, wheels.<name>, image
    # Derivation name -> what to call it in a message (`package: file`).
    names: dict[str, str] = field(default_factory=dict)
    out_link: Path | None = None  # None: --no-out-link
    python: str | None = None  # the `site` builder's interpreter (--argstr python)


def nix_build(build: NixBuild) -> tuple[str, ...]:
    """Realise `build.attr` and return its output store paths, in Nix's order."""
    # --keep-going: every wheel is fetched and checked, so every mismatch is reported at once.
    command = [_tool("nix-build"), str(build.folder), "-A", build.attr, "--keep-going",
               *_options(build.python)]
    if build.python is not None:
        command += ["--argstr", "python", build.python]
    command += ["--no-out-link"] if build.out_link is None else ["-o", str(build.out_link)]
    return tuple(line.strip() for line in _run(command, build.names).splitlines()
                 if line.strip())


def _tool(name: str) -> str:
    tool = shutil.which(name)
    if tool is None:
        raise NixMissing(f"Nix is not installed: no {name} on PATH",
                         hint="install it (Debian: apt-get install nix-bin; elsewhere Nix's "
                              "own installer), then run again")
    return tool


def _run(command: list[str], names: dict[str, str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, errors="replace",
                              check=False, stdin=subprocess.DEVNULL)
    except OSError as error:
        raise NixBuildFailed(f"cannot run {command[0]}: {error}") from None
    if done.returncode != 0:
        raise failure(done.stderr, names)
    return done.stdout


def _options(python: str | None) -> list[str]:
    paths = list(_SANDBOX_PATHS)
    top = "/" + (python or "/usr").lstrip("/").split("/", 1)[0]
    if top not in ("/usr", "/lib", "/lib64", "/bin"):
        paths.append(top)
    options = ["--option", "substituters", "", "--option", "extra-sandbox-paths", " ".join(paths)]
    if os.geteuid() == 0 and not _group_exists("nixbld"):
        options += ["--option", "build-users-group", ""]
    return options


def manual_command(attr: str, folder: str = "DIR") -> list[str]:
    """The `nix-build` line, as comment lines, that builds `attr` the way `nix_build` does
    on a machine without envbuild (the generated default.nix says it)."""
    paths = " ".join(_SANDBOX_PATHS)
    return [f"nix-build {folder} -A {attr} --option substituters '' \\",
            f"    --option extra-sandbox-paths '{paths}' \\",
            "    --option build-users-group ''   (only as root where no nixbld group exists)"]


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def failure(stderr: str, names: dict[str, str]) -> InputError | CheckFailed | ExternalError:
    """The envbuild error for what a failed `nix-build` printed."""
    text = scrub(stderr)
    mismatches = sorted({f"{_named(m.group(1), names)}: Nix fetched a file whose hash is not "
                         f"the locked one: locked {m.group(2)}, got {m.group(3)}"
                         for m in _MISMATCH.finditer(text)})
    if mismatches:
        return NixHashMismatch("\n".join(mismatches),
                               hint="the index now serves different bytes under the locked "
                                    "name; nothing was built. Re-lock if the change is expected.")
    refused = _UNPACK.search(text)
    if refused:
        return NixWheelRefused(f"the site builder refused a wheel: {refused.group(1).strip()}",
                               hint="the locked wheel is malformed; nothing was built")
    download = _DOWNLOAD.search(text)
    if download:
        builder = _BUILDER.search(text)
        what = _named(builder.group(1), names) if builder else "a wheel"
        return NixBuildFailed(f"{what}: Nix could not download {download.group(1)}: "
                              f"{download.group(2).strip()}",
                              hint="check the network and the index's credentials (Nix reads "
                                   "them from its netrc-file)")
    if _STARTED.search(text):
        builder = _BUILDER.search(text)
        what = _named(builder.group(1), names) if builder else "the build"
        return NixBuildFailed(f"nix-build: {what} failed:\n{_tail(text)}")
    if _NO_NIXPKGS in text:
        return NixEvalError("the image attribute needs nixpkgs, and <nixpkgs> is not in Nix's "
                            "search path",
                            hint="set NIX_PATH=nixpkgs=PATH (a nixpkgs checkout or channel), "
                                 "or build site or wheels, which need no nixpkgs")
    return NixEvalError(f"nix-build could not evaluate the expression:\n{_tail(text)}",
                        hint="export it again with `envbuild export --format nix`; an image "
                             "needs nixpkgs (<nixpkgs> on NIX_PATH)")


def _named(drv: str, names: dict[str, str]) -> str:
    """`package: file` for a derivation path, else the derivation's name."""
    name = drv.rsplit("/", 1)[-1].split("-", 1)[-1].removesuffix(".drv")
    return names.get(name, name)


def _tail(text: str) -> str:
    lines = [line for line in text.strip().splitlines()
             if line.strip() and not line.startswith(_NOISE)]
    return "\n".join(lines[-_TAIL:])
