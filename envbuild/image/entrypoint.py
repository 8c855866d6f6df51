"""The image's command checked against the image's own files, before anything is built.

`docker run IMAGE` executes the config's entrypoint (ours, or else the base's command)
with the config's PATH, from its WorkingDir. The check looks the program up the way exec
does (a name on PATH in order, a path with a slash as is, relative to the working
directory), in the final tree: the base's files (`imagefiles.base_index`, read once per
base), the runtime payload, the copied project files and, only when those do not have it,
the console scripts and modules of the locked wheels (names read from the cached wheels'
zip directories, never their contents). For `python -m NAME` it also looks for NAME where
that Python would: the working directory, PYTHONPATH and the image's lib/python3 folders.

The builder checks once before any download, and again after the wheels are fetched when
the first check needed them; a wheel still missing then (its layer was cached, the wheel
pruned) means the wheels cannot be looked in, and the build says the command was not
checked rather than refuse it.
"""

from __future__ import annotations

import configparser
import functools
import posixpath
import re
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from envbuild.errors import InputError
from envbuild.image.imagefiles import DIR, EXECUTABLE, FILE, FileIndex
from envbuild.image.install import InstallLayout
from envbuild.image.store import Store
from envbuild.lockfile.model import LockedPackage

_PYTHON = re.compile(r"^python(\d(\.\d+)?)?$")
_LIB_DIR = re.compile(r"(^|/)lib/python3(\.\d+)?(/lib-dynload|/site-packages|/dist-packages)?$")
_SCRIPTS = re.compile(r"^[^/]+\.data/scripts/([^/]+)$")


class CommandNotFound(InputError):
    """The image's command names a program or module the image does not have."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ImageCommand:
    target: str
    command: tuple[str, ...]  # entrypoint (or the base's cmd) as the config has it
    source: str  # "entrypoint" or "cmd"
    env: dict[str, str]  # the config's environment
    working_dir: str


def ours(files: FileIndex, *, payload: Iterable[str],
         copied: Iterable[tuple[str, bool]]) -> None:
    """Add envbuild's own files: the payload's paths and (path, executable) copied files."""
    for path in payload:
        files.add(path, FILE)
    for path, executable in copied:
        files.add(path, EXECUTABLE if executable else FILE)


def wheel_files(store: Store, packages: Sequence[LockedPackage],
                layout: InstallLayout) -> FileIndex | None:
    """What the locked wheels install, by name (their console scripts and modules), or None
    when a wheel is not in the cache."""
    files = FileIndex()
    for package in packages:
        path = store.wheel_path(package.artifact.hash, package.artifact.file)
        if not path.is_file():
            return None
        with zipfile.ZipFile(path) as wheel:
            for name in wheel.namelist():
                script = _SCRIPTS.match(name)
                if script:
                    files.add(f"{layout.scripts}/{script.group(1)}", EXECUTABLE)
                elif not name.split("/", 1)[0].endswith(".data"):
                    files.add(f"{layout.site_packages}/{name}", FILE)
                if name.endswith(".dist-info/entry_points.txt"):
                    for script_name in _console_scripts(wheel.read(name)):
                        files.add(f"{layout.scripts}/{script_name}", EXECUTABLE)
    return files


def _console_scripts(text: bytes) -> list[str]:
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # names keep case
    try:
        parser.read_string(text.decode("utf-8", "replace"))
    except configparser.Error:
        return []
    return [name for section in ("console_scripts", "gui_scripts")
            if parser.has_section(section) for name in parser.options(section)]


def check_command(command: ImageCommand, files: FileIndex,
                  wheels: Callable[[], FileIndex | None]) -> bool:
    """Refuse (exit 2) a command whose program, or `python -m` module, the image lacks.

    False when it could not decide: the program or module is in neither the base nor
    envbuild's files, and `wheels()` is None (a locked wheel is not in the cache yet).
    """
    if not command.command:
        return True
    wheels = functools.cache(wheels)  # read the wheels' names once, and only if needed
    what = "entrypoint" if command.source == "entrypoint" else "the base's command"
    program = command.command[0]
    path = command.env.get("PATH", "")
    if _find_program(files, program, path, command.working_dir) is None:
        extra = wheels()
        if extra is None:
            return False
        files = FileIndex({**files.entries, **extra.entries})
        if _find_program(files, program, path, command.working_dir) is None:
            raise _not_found(command, what, program, path, files)
    module = _module(command.command)
    if module is None or not _PYTHON.match(posixpath.basename(program)):
        return True
    if not _module_found(files, module, command):
        extra = wheels()
        if extra is None:
            return False
        files = FileIndex({**files.entries, **extra.entries})
        if not _module_found(files, module, command):
            raise CommandNotFound(
                f'target "{command.target}": {what} runs `{program} -m {module}`, but no '
                f'module "{module.split(".")[0]}" is in the working directory '
                f"{command.working_dir}, PYTHONPATH or the image's lib/python3 folders",
                hint=_module_hint(files, module, command.working_dir))
    return True


def _find_program(files: FileIndex, program: str, path: str, working_dir: str) -> str | None:
    for candidate in _candidates(program, path, working_dir):
        if files.kind(candidate) == EXECUTABLE:
            return candidate
    return None


def _candidates(program: str, path: str, working_dir: str) -> list[str]:
    if "/" in program:
        return [posixpath.join(working_dir, program)]  # an absolute program stays as is
    # As Go's exec.LookPath (which the engine uses): an empty PATH entry is ".".
    return [posixpath.join(working_dir, folder or ".", program) for folder in path.split(":")]


def _not_found(command: ImageCommand, what: str, program: str, path: str,
               files: FileIndex) -> CommandNotFound:
    quoted = ", ".join(f'"{word}"' for word in command.command)
    if "/" in program:
        kind = files.kind(posixpath.join(command.working_dir, program))
        state = {DIR: "is a folder", FILE: "is not executable"}.get(
            kind or "", "does not exist in the image")
        return CommandNotFound(f'target "{command.target}": {what} program "{program}" '
                               f"{state}", hint=_fix_hint(command))
    message = (f'target "{command.target}": {what} program "{program}" not found on the '
               f"image's PATH={path}")
    alternatives = [f"{program}3", *(["python3"] if _PYTHON.match(program) else [])]
    for alternative in alternatives:
        if alternative != program and _find_program(files, alternative, path,
                                                     command.working_dir):
            fixed = ", ".join(f'"{w}"' for w in (alternative, *command.command[1:]))
            return CommandNotFound(message, hint=f"the base has {alternative}, not "
                                   f"{program}: write [image] entrypoint = [{fixed}] "
                                   f"instead of [{quoted}]")
    return CommandNotFound(message, hint=_fix_hint(command))


def _fix_hint(command: ImageCommand) -> str:
    if command.source == "cmd":
        return "set [image] entrypoint to a program the image has"
    return ("name a program the base has, a copied file (by its path in the image), or a "
            "console script of a locked package")


def _module(argv: Sequence[str]) -> str | None:
    for position, word in enumerate(argv[1:-1], start=1):
        if word == "-m":
            return argv[position + 1]
        if word == "-c" or not word.startswith("-"):
            return None  # a script or -c: no module to look for
    return None


def _module_found(files: FileIndex, module: str, command: ImageCommand) -> bool:
    top = module.split(".")[0]
    folders = [command.working_dir,
               *(posixpath.join(command.working_dir, p)
                 for p in command.env.get("PYTHONPATH", "").split(":") if p),
               *("/" + d for d in files.dirs() if _LIB_DIR.search(d))]
    for folder in folders:
        for name in (top, f"{top}.py"):
            if files.kind(posixpath.join(folder, name)) in (DIR, FILE, EXECUTABLE):
                return True
        resolved = files.resolve(folder)
        if resolved is not None and any(  # an extension module: top.cpython-311-....so
                key.startswith(f"{resolved}/{top}.") and key.endswith(".so")
                for key in files.entries):
            return True
    return False


def _module_hint(files: FileIndex, module: str, working_dir: str) -> str:
    top = module.split(".")[0]
    homes = sorted({posixpath.dirname(k) for k in files.entries
                    if k.endswith((f"/{top}.py", f"/{top}/__init__.py"))})
    homes = [posixpath.dirname(h) if h.endswith(f"/{top}") else h for h in homes]
    if homes:
        return (f"it is in /{homes[0]}: set [image] workdir = \"/{homes[0]}\", or copy "
                f"its folder first (the working directory is where `python -m` finds the "
                f"first copy entry's code)")
    return f"copy the module into the image (it runs from {working_dir})"
