"""Exports of one target's conda packages: conda-lock's lockfile and an `@EXPLICIT` file.

- `conda-lock`: conda-lock's version 1 YAML (`conda-lock install`/`render` read it): every
  conda package of the target with its URL, md5 and sha256 and its dependencies, then the
  target's PyPI packages (`manager: pip`) with their URLs and sha256, for the same platform.
- `explicit`: the file `conda create --file` installs: one URL per conda package with
  `#sha256:<hex>`, in the lock's order. PyPI packages are not part of it (export them with
  `--format requirements`), and the header says so.

The lock names channels; URLs are resolved from the manifest's [indexes] at export time,
less credentials, exactly as the PyPI exports do. The YAML is written by hand (JSON-quoted
scalars, which YAML reads as written): the same lock gives the same bytes.
"""

from __future__ import annotations

import json
import re
from typing import Any

from envbuild.errors import InputError
from envbuild.lockfile.model import CondaPackage, Lock, LockedTarget
from envbuild.scrub import without_credentials

_BARE = re.compile(r"[a-z_][a-z0-9_-]*")
# Words YAML 1.1 readers (PyYAML, which conda-lock uses) turn into booleans or null.
_YAML11_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})


def _needs_conda(target: LockedTarget, fmt: str) -> None:
    if not target.conda:
        raise InputError(f'target "{target.name}" has no conda packages to export as {fmt}',
                         hint="export its PyPI packages with --format pylock or --format requirements")


def channel_url(urls: dict[str, str], channel: str, package: str) -> str:
    if channel not in urls:
        raise InputError(f'{package}: the lock names conda channel "{channel}", which the manifest '
                         "does not declare",
                         hint='declare it under [indexes] with kind = "conda", or re-lock')
    return without_credentials(urls[channel]).rstrip("/")


def package_url(urls: dict[str, str], record: CondaPackage) -> str:
    return f"{channel_url(urls, record.channel, record.name)}/{record.subdir}/{record.file}"


def export_explicit(lock: Lock, target: LockedTarget, urls: dict[str, str]) -> str:
    """`conda create --name ENV --file <this file>` installs exactly the locked conda set."""
    from envbuild.conda.virtual import subdir

    _needs_conda(target, "explicit")
    lines = [f"# Exported by envbuild: target {target.name} of {lock.name}, target hash {target.hash}",
             "# Install with: conda create --name ENV --file <this file>",
             f"# platform: {subdir(target.platform)}",
             "@EXPLICIT"]
    if target.packages:
        lines[1:1] = [f"# Conda packages only: install the target's {len(target.packages)} PyPI packages "
                      "on top with `envbuild export --format requirements`."]
    lines += [f"{package_url(urls, r)}#{r.hash}" for r in target.conda]
    return "\n".join(lines) + "\n"


def _dependencies(specs: tuple[str, ...]) -> dict[str, str]:
    """conda-lock's form of match specs: name -> the rest of the spec ("*" when none)."""
    out: dict[str, str] = {}
    for spec in specs:
        name, _, rest = spec.partition(" ")
        out[name] = rest.strip() or "*"
    return out


def export_conda_lock(lock: Lock, target: LockedTarget, urls: dict[str, str]) -> str:
    """conda-lock's lockfile (version 1) of the target."""
    from envbuild.conda.virtual import subdir
    from envbuild.export import index_url_of
    from envbuild.indexclient import UrlMemo, locate_file

    _needs_conda(target, "conda-lock")
    platform = subdir(target.platform)
    packages: list[dict[str, Any]] = []
    for r in target.conda:
        packages.append({"name": r.name, "version": r.version, "manager": "conda", "platform": platform,
                         "dependencies": _dependencies(r.dependencies), "url": package_url(urls, r),
                         "hash": {"md5": r.md5, "sha256": r.hash.removeprefix("sha256:")},
                         "category": "main", "optional": False, "build": r.build})
    memo = UrlMemo()
    for p in target.packages:
        index_url = index_url_of(urls, p.index, p.name)
        url = locate_file(memo, index_name=p.index, index_url=index_url, project=p.name,
                          file=p.artifact.file, hash_=p.artifact.hash)
        packages.append({"name": p.name, "version": p.version, "manager": "pip", "platform": platform,
                         "dependencies": dict.fromkeys(p.dependencies, "*"), "url": without_credentials(url),
                         "hash": {"sha256": p.artifact.hash.removeprefix("sha256:")},
                         "category": "main", "optional": False})
    channels = [{"url": channel_url(urls, c, c), "used_env_vars": []} for c in target.conda_channels]
    document = {
        "version": 1,
        "metadata": {"content_hash": {platform: target.hash.removeprefix("sha256:")},
                     "channels": channels, "platforms": [platform], "sources": ["envbuild.toml"]},
        "package": packages,
    }
    header = (f"# Exported by envbuild: target {target.name} of {lock.name}, target hash {target.hash}\n"
              "# Install with: conda-lock install --name ENV <this file>\n")
    return header + _yaml(document, 0)


def _yaml(value: Any, indent: int) -> str:
    """Block-style YAML of plain data; scalars JSON-quoted (a YAML double-quoted string)."""
    pad = " " * indent
    out = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                out.append(f"{pad}{_key(key)}:\n{_yaml(item, indent + 2)}")
            else:
                out.append(f"{pad}{_key(key)}: {_scalar(item)}\n")
    else:
        for item in value:
            text = _yaml(item, indent + 2) if isinstance(item, (dict, list)) and item else \
                f"{pad}  {_scalar(item)}\n"
            out.append(f"{pad}- {text[indent + 2:]}")
    return "".join(out)


def _key(key: str) -> str:
    """A mapping key, bare where YAML 1.1 reads it back as that same string."""
    plain = _BARE.fullmatch(key) and key.lower() not in _YAML11_WORDS
    return key if plain else json.dumps(key)


def _scalar(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)
