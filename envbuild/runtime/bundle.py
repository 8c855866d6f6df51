"""Pack the portable runtime so that any Python >= 3.11 runs it with nothing installed.

The bundle holds `envbuild_runtime/` (the portable modules of this package, imported
relatively), a root `__main__.py` and the pure-Python NVML binding `pynvml.py`, read from
the nvidia-ml-py release envbuild pins. Two forms:

- `write_tree(folder)`: a folder; `python -I FOLDER verify ...` runs it. Python caches its
  bytecode beside it, so later runs skip compiling. This is the fast form: `envbuild verify
  --python` keeps one in the cache folder. (Images ship no `.pyc`: see envbuild/image/README.)
- `write_zipapp(path)`: one file, `python -I envbuild-runtime.pyz verify ...`; zipimport
  compiles the modules on every start (about 0.1 s more).

Both depend only on the bundled files (sorted, fixed timestamps in the zip), as an image
layer needs.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from . import PORTABLE

PACKAGE = "envbuild_runtime"
_STAMP = (1980, 1, 1, 0, 0, 0)
_ROOT_MAIN = """\
import sys

if sys.version_info < (3, 11):
    sys.stderr.write("error: the envbuild verifier needs Python 3.11 or newer\\n")
    sys.exit(2)

from envbuild_runtime.main import main

sys.exit(main(own_path=sys.path[0]))
"""


def members(*, include_pynvml: bool = True) -> dict[str, bytes]:
    """Archive path -> bytes of everything the bundle holds."""
    here = Path(__file__).parent
    out = {f"{PACKAGE}/{name}.py": (here / f"{name}.py").read_bytes() for name in PORTABLE}
    out["__main__.py"] = _ROOT_MAIN.encode()
    if include_pynvml:
        out["pynvml.py"] = _pinned_pynvml()
    return out


def _pinned_pynvml() -> bytes:
    """pynvml.py from the nvidia-ml-py distribution envbuild depends on, never whatever
    `pynvml` the host's sys.path finds first: the image's bytes depend on envbuild alone."""
    from importlib import metadata

    try:
        files = metadata.files("nvidia-ml-py") or []
    except metadata.PackageNotFoundError:
        raise RuntimeError("nvidia-ml-py is not installed beside envbuild; reinstall envbuild") from None
    for file in files:
        if str(file) == "pynvml.py":
            return Path(str(file.locate())).read_bytes()
    raise RuntimeError("nvidia-ml-py ships no pynvml.py; reinstall envbuild")


def write_zipapp(path: Path, *, include_pynvml: bool = True) -> Path:
    """Write the bundle to `path` (replacing it) and return `path`."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(members(include_pynvml=include_pynvml).items()):
            info = zipfile.ZipInfo(name, date_time=_STAMP)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data, compresslevel=9)
    return path


def write_tree(folder: Path) -> Path:
    """Write the bundle as a folder at `folder` (which must not exist) and return it."""
    for name, data in sorted(members().items()):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder


def cached_tree(cache: Path,
                staging: Callable[[], contextlib.AbstractContextManager[Path]] | None = None) -> Path:
    """A bundle folder under `cache`, named by its content; written once, then reused.
    `staging` gives the empty folder it is written in first (on the cache's file system):
    envbuild passes its scratch folders, which a killed run does not leave behind."""
    content = members()
    digest = hashlib.sha256()
    for name, data in sorted(content.items()):
        digest.update(f"{name}\0{len(data)}\0".encode() + data)
    folder = cache / "runtime" / digest.hexdigest()[:24]
    if (folder / "__main__.py").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with (staging or (lambda: _beside(folder.parent)))() as tmp:
        try:
            write_tree(tmp / "tree")
            (tmp / "tree").replace(folder)  # atomic: a racing writer's copy is identical
        except OSError:
            if not (folder / "__main__.py").is_file():
                raise
    return folder


@contextlib.contextmanager
def _beside(parent: Path) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=".staging-", dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
