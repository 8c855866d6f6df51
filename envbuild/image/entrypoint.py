"""The image's command checked against the image's own files, before anything is built.

`docker run IMAGE` executes the config's entrypoint (ours, or else the base's command)
with the config's PATH, from its WorkingDir. The check looks the program up the way exec
does (a name on PATH in order, a path with a slash as is, relative to the working
directory), in the final tree: the base's files (`imagefiles.base_index`, read once per
base), the runtime payload, the copied project files and, only when those do not have it,
the console scripts and modules of the locked wheels (names read from the cached wheels'
zip directories, never their contents). For `python -m NAME` it also looks for NAME where
that Python would: the working directory (not with -I or -P, or PYTHONSAFEPATH set),
PYTHONPATH (not with -I or -E) and the image's lib/python3 folders, and a dotted NAME's
submodules inside the package found first. The `[run] command` jobs start is checked the
same way, from the same working directory, with `[run] env` over the image's.

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
_WHAT = {"entrypoint": "entrypoint", "cmd": "the base's command", "run.command": "run.command"}
_SETTING = {"entrypoint": "[image] entrypoint", "run.command": "[run] command"}
# Python's short options that take a value (the rest of the word, or the next word).
_VALUE_OPTIONS = frozenset("WX")


class CommandNotFound(InputError):
    """The image's command names a program or module the image does not have."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ImageCommand:
    target: str
    command: tuple[str, ...]  # entrypoint (or the base's cmd), or [run] command
    source: str  # "entrypoint", "cmd" or "run.command"
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
    what = _WHAT.get(command.source, command.source)
    program = command.command[0]
    path = command.env.get("PATH", "")
    if _find_program(files, program, path, command.working_dir) is None:
        extra = wheels()
        if extra is None:
            return False
        files = FileIndex({**files.entries, **extra.entries})
        if _find_program(files, program, path, command.working_dir) is None:
            raise _not_found(command, what, program, path, files)
    if not _PYTHON.match(posixpath.basename(program)):
        return True
    run = _python_module(command.command)
    if run is None:
        return True
    problem = _module_problem(files, run, command)
    if problem is not None:
        extra = wheels()
        if extra is None:
            return False
        files = FileIndex({**files.entries, **extra.entries})
        problem = _module_problem(files, run, command)
        if problem is not None:
            message, hint = problem
            raise CommandNotFound(f'target "{command.target}": {what} runs '
                                  f"`{' '.join(run.words)}`, but {message}", hint=hint)
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
    setting = _SETTING.get(command.source, "[image] entrypoint")
    if "/" in program:
        kind = files.kind(posixpath.join(command.working_dir, program))
        state = {DIR: "is a folder", FILE: "is not executable"}.get(
            kind or "", "does not exist in the image")
        message = f'target "{command.target}": {what} program "{program}" {state}'
        folder, name = posixpath.split(program)
        if _PYTHON.match(name) and name != "python3":  # /usr/bin/python on a Debian base
            alternative = posixpath.join(folder, "python3")
            if _find_program(files, alternative, path, command.working_dir):
                fixed = ", ".join(f'"{w}"' for w in (alternative, *command.command[1:]))
                return CommandNotFound(message, hint=f"the image has {alternative}: write "
                                       f"{setting} = [{fixed}] instead of [{quoted}]")
        return CommandNotFound(message, hint=_fix_hint(command))
    message = (f'target "{command.target}": {what} program "{program}" not found on the '
               f"image's PATH={path}")
    alternatives = [f"{program}3", *(["python3"] if _PYTHON.match(program) else [])]
    for alternative in alternatives:
        if alternative != program and _find_program(files, alternative, path,
                                                     command.working_dir):
            fixed = ", ".join(f'"{w}"' for w in (alternative, *command.command[1:]))
            return CommandNotFound(message, hint=f"the base has {alternative}, not "
                                   f"{program}: write {setting} = [{fixed}] "
                                   f"instead of [{quoted}]")
    return CommandNotFound(message, hint=_fix_hint(command))


def _fix_hint(command: ImageCommand) -> str:
    if command.source == "cmd":
        return "set [image] entrypoint to a program the image has"
    return ("name a program the base has, a copied file (by its path in the image), or a "
            "console script of a locked package")


@dataclass(frozen=True, kw_only=True, slots=True)
class _ModuleRun:
    module: str
    words: tuple[str, ...]  # the command up to the module's name, for messages
    no_cwd: str | None  # "-I" or "-P" (or PYTHONSAFEPATH) when the working dir is off sys.path
    no_pythonpath: str | None  # "-I" or "-E" when PYTHONPATH is ignored


def _python_module(argv: Sequence[str]) -> _ModuleRun | None:
    """The module of `python [options] -m MODULE ...` (options as Python parses them: joined
    short flags `-Im`, a joined value `-mMOD`), or None for a script, -c or stdin."""
    flags: set[str] = set()
    position = 1
    while position < len(argv):
        word = argv[position]
        if word in ("-", "--") or not word.startswith("-"):
            return None  # a script (or stdin) runs: no module to look for
        if word.startswith("--"):
            position += 2 if word == "--check-hash-based-pycs" else 1
            continue
        for offset, letter in enumerate(word[1:], start=2):
            if letter == "c":
                return None
            if letter == "m" or letter in _VALUE_OPTIONS:
                value = word[offset:]
                if not value:
                    position += 1
                    value = argv[position] if position < len(argv) else ""
                if letter == "m":
                    return _ModuleRun(module=value, words=tuple(argv[:position + 1]),
                                      no_cwd=next((f"-{f}" for f in "IP" if f in flags), None),
                                      no_pythonpath=next((f"-{f}" for f in "IE" if f in flags),
                                                         None)) if value else None
                break
            flags.add(letter)
        position += 1
    return None


def _module_problem(files: FileIndex, run: _ModuleRun,
                    command: ImageCommand) -> tuple[str, str] | None:
    """(message, hint) when that Python cannot import `run.module`; None when it can."""
    env = command.env
    no_cwd = run.no_cwd or ("PYTHONSAFEPATH" if env.get("PYTHONSAFEPATH") and
                            run.no_pythonpath is None else None)
    pythonpath = [posixpath.join(command.working_dir, p)
                  for p in env.get("PYTHONPATH", "").split(":") if p]
    libs = sorted("/" + d for d in files.dirs() if _LIB_DIR.search(d))
    folders = [*([] if no_cwd else [command.working_dir]),
               *([] if run.no_pythonpath else pythonpath), *libs]
    parts = run.module.split(".")
    for folder in folders:  # the first folder that has the top-level name is the one used
        found = _in_folder(files, folder, parts)
        if found is True:
            return None
        if isinstance(found, tuple):
            kind, owner, missing = found
            home = posixpath.join(folder, *owner.split("."))
            hint = (f"check the dotted name, or add {missing}.py (or {missing}/__init__.py) "
                    f"to {home}/" if kind == "package" else
                    f"{home}.py is a module, not a package: check the dotted name")
            return f'{kind} "{owner}" (in {folder}) has no submodule "{missing}"', hint
    top = parts[0]
    places = [*([] if no_cwd else [f"the working directory {command.working_dir}"]),
              *([] if run.no_pythonpath else ["PYTHONPATH"]), "the image's lib/python3 folders"]
    message = f'no module "{top}" is in ' + " or ".join(
        [", ".join(places[:-1]), places[-1]] if len(places) > 1 else places)
    if no_cwd and _in_folder(files, command.working_dir, parts) is not None:
        return (f"{message} ({no_cwd} keeps the working directory off sys.path)",
                f"drop {no_cwd}, or install the code as a package (a locked wheel puts it in "
                "site-packages)")
    if run.no_pythonpath and any(_in_folder(files, p, parts) is not None for p in pythonpath):
        return (f"{message} ({run.no_pythonpath} ignores PYTHONPATH)",
                f"drop {run.no_pythonpath}, or install the code as a package (a locked wheel "
                "puts it in site-packages)")
    return message, _module_hint(files, run.module, command)


def _in_folder(files: FileIndex, folder: str,
               parts: list[str]) -> bool | tuple[str, str, str] | None:
    """True: `folder` has the dotted module; None: not even its top-level name; else
    ("package" or "module", its dotted name, the submodule it lacks) where it stops."""
    here = folder
    for depth, part in enumerate(parts):
        if files.kind(posixpath.join(here, part)) == DIR:
            here = posixpath.join(here, part)
            continue
        module = (files.kind(posixpath.join(here, part + ".py")) in (FILE, EXECUTABLE)
                  or _extension(files, here, part))
        if module and depth == len(parts) - 1:
            return True
        if module:  # a plain module holds no submodules ("train is not a package")
            return "module", ".".join(parts[:depth + 1]), parts[depth + 1]
        if depth == 0:
            return None
        return "package", ".".join(parts[:depth]), part
    return True


def _extension(files: FileIndex, folder: str, name: str) -> bool:
    resolved = files.resolve(folder)
    return resolved is not None and any(  # an extension module: name.cpython-311-....so
        key.startswith(f"{resolved}/{name}.") and key.endswith(".so") for key in files.entries)


def _module_hint(files: FileIndex, module: str, command: ImageCommand) -> str:
    top = module.split(".")[0]
    working_dir = command.working_dir
    homes = sorted({posixpath.dirname(k) for k in files.entries
                    if k.endswith((f"/{top}.py", f"/{top}/__init__.py"))})
    homes = [posixpath.dirname(h) if h.endswith(f"/{top}") else h for h in homes]
    if homes:
        return (f"it is in /{homes[0]}: set [image] workdir = \"/{homes[0]}\", or copy "
                f"its folder first (the working directory is where `python -m` finds the "
                f"first copy entry's code)")
    return f"copy the module into the image (it runs from {working_dir})"
