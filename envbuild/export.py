"""Exports of one locked target: a PEP 751 `pylock.<target>.toml` and a requirements file.

Exports carry URLs (they are generated, never committed). The lock names files by index
name; their URLs come from the memo that `envbuild lock` leaves in the cache, else from the
index's simple API.

The default index is the installer's own configuration (pip.conf, PIP_INDEX_URL, a mirror):
an export names no URL for it, so it installs through whatever mirror the installing
machine uses. Named indexes are written as the manifest declares them, less credentials.
Each file's hash, not its index, is what makes the install exact.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from packaging.markers import Marker
from packaging.pylock import Package, PackageSdist, PackageWheel, Pylock
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from envbuild import platforms
from envbuild.errors import InputError
from envbuild.indexclient import UrlMemo, locate_file
from envbuild.lockfile.model import Lock, LockedPackage, LockedTarget
from envbuild.lockfile.tomlemit import dumps
from envbuild.manifest.model import DEFAULT_INDEX, Manifest
from envbuild.scrub import without_credentials


def pick_target(lock: Lock, name: str | None) -> LockedTarget:
    if name is None:
        if len(lock.targets) == 1:
            return next(iter(lock.targets.values()))
        raise InputError("the lock has several targets; choose one with --target",
                         hint=f"targets: {', '.join(lock.targets)}")
    if name not in lock.targets:
        raise InputError(f'no target "{name}" in the lock', hint=f"targets: {', '.join(lock.targets)}")
    return lock.targets[name]


def index_urls(manifest: Manifest) -> dict[str, str]:
    urls = {n: i.url for n, i in manifest.indexes.items() if i.url}
    urls[DEFAULT_INDEX] = default_index_url()
    return urls


def default_index_url() -> str:
    """The user's default index as an export writes it: without credentials (pip finds
    them in netrc or a keyring), so a file written from the lock carries no secret."""
    return without_credentials(configured_index_url())


def configured_index_url() -> str:
    """The user's default index exactly as configured, credentials included: only for
    handing to a resolver, which needs them; never for a message or a file."""
    for variable in ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL"):
        if os.environ.get(variable):
            return os.environ[variable].rstrip("/")
    from pip._internal.models.index import PyPI  # the clients' own default

    return str(PyPI.simple_url)


def index_url_of(urls: dict[str, str], index: str, package: str) -> str:
    """The URL of the index a locked package names; bad input when the manifest lost it."""
    if index not in urls:
        raise InputError(f'{package}: the lock names index "{index}", which the manifest does not declare',
                         hint=f"declare it under [indexes], or re-lock: envbuild lock --upgrade-package {package}")
    return urls[index]


def describe_platform(target: LockedTarget) -> str:
    """`linux/arm64, CPython 3.11, glibc 2.28 or newer`: where the target's files run."""
    glibc = f", glibc {target.glibc} or newer" if target.platform.startswith("linux/") else ""
    return f"{target.platform}, CPython {target.python}{glibc}"


def export_warnings(target: LockedTarget) -> list[str]:
    """What the user should know before installing the export on this machine."""
    from envbuild.runtime.platformcheck import host_facts

    host = host_facts().platform
    if host == target.platform:
        return []
    # pip on this machine picks this machine's wheels, which no hash in the export matches.
    return [f'target "{target.name}" is for {target.platform}, not this machine ({host}): '
            f"install the export on a {target.platform} machine (elsewhere pip finds other "
            'wheels of platform-specific packages and reports that they "do not match the '
            'hashes")']


def export_requirements(lock: Lock, target: LockedTarget, urls: dict[str, str]) -> str:
    """A file that `pip install --require-hashes --no-deps` installs exactly.

    No `--index-url`: the default index is the installing machine's own configuration.
    """
    lines = [f"# Exported by envbuild: target {target.name} of {lock.name}, "
             f"target hash {target.hash}",
             f"# For {describe_platform(target)}; the hashes below are of that platform's files.",
             "# Install with: pip install --no-deps --require-hashes -r <this file>",
             "# The default index is the installer's own (pip.conf, PIP_INDEX_URL, a mirror)."]
    used = sorted({p.index for p in target.packages} - {DEFAULT_INDEX})
    lines += [f"--extra-index-url {without_credentials(index_url_of(urls, n, _first_of(target, n)))}"
              for n in used]
    if all(p.artifact.kind == "wheel" for p in target.packages):
        lines.append("--only-binary :all:")
    for p in target.packages:
        lines.append(f"{p.name}=={p.version} \\\n    --hash={p.artifact.hash}")
    return "\n".join(lines) + "\n"


def _first_of(target: LockedTarget, index: str) -> str:
    return next(p.name for p in target.packages if p.index == index)


def export_pylock(lock: Lock, target: LockedTarget, urls: dict[str, str]) -> str:
    """A PEP 751 lock of one target, validated by packaging.pylock before it is written."""
    memo = UrlMemo()
    markers = platforms.environment_markers(target.platform, target.python)
    environment = Marker(" and ".join(f'{k} == "{markers[k]}"'
                                      for k in ("sys_platform", "platform_machine")))
    packages = [_package(p, urls, memo) for p in target.packages]
    pylock = Pylock(lock_version=Version("1.0"), environments=[environment],
                    requires_python=SpecifierSet(f"=={target.python}.*"),
                    created_by="envbuild", packages=packages)
    pylock.validate()
    document = pylock.to_dict()
    return dumps(document, inline=frozenset({"hashes"}))


def _package(p: LockedPackage, urls: dict[str, str], memo: UrlMemo) -> Package:
    index_url = index_url_of(urls, p.index, p.name)
    url = locate_file(memo, index_name=p.index, index_url=index_url, project=p.name,
                      file=p.artifact.file, hash_=p.artifact.hash)
    url = without_credentials(url)
    hashes = {"sha256": p.artifact.hash.split(":", 1)[1]}
    # `index` is optional (PEP 751); for the default index any URL written would be this
    # machine's configuration, not the installer's, so none is.
    index = None if p.index == DEFAULT_INDEX else without_credentials(index_url)
    if p.artifact.kind == "wheel":
        return Package(name=canonicalize_name(p.name), version=Version(p.version), index=index,
                       wheels=[PackageWheel(name=p.artifact.file, url=url, size=p.artifact.size,
                                            hashes=hashes)])
    return Package(name=canonicalize_name(p.name), version=Version(p.version), index=index,
                   sdist=PackageSdist(name=p.artifact.file, url=url, size=p.artifact.size,
                                      hashes=hashes))




def exporter(fmt: str) -> Callable[[Lock, LockedTarget, dict[str, str]], str]:
    """The function that writes export format `fmt`."""
    if fmt in ("conda-lock", "explicit"):
        from envbuild.conda.export import export_conda_lock, export_explicit

        return export_conda_lock if fmt == "conda-lock" else export_explicit
    return export_pylock if fmt == "pylock" else export_requirements
