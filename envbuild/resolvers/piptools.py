"""The pip-tools resolver: `pip-compile --generate-hashes`, for the host's own target only.

pip-compile evaluates markers and wheel tags against the running interpreter, so it cannot
resolve for another platform or Python; such targets get a clear error. It reports hashes
but not files, so each pinned version's files are read from the index's JSON page and the
best file for the target is chosen among those whose hash pip-compile accepted.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys

from packaging.utils import canonicalize_name

from envbuild.indexclient import project_files
from envbuild.manifest.model import DEFAULT_INDEX
from envbuild.resolvers.choose import choose_artifact
from envbuild.resolvers.interface import (
    Candidate,
    Resolution,
    ResolutionImpossible,
    ResolvedPackage,
    Resolver,
    ResolveRequest,
    ResolverError,
)
from envbuild.scrub import scrub

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")
_VIA = re.compile(r"^\s+#\s+via\s*(.*)$")
_MACHINES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def host_platform() -> str:
    return f"{sys.platform}/{_MACHINES.get(platform.machine(), '?')}"


class PipToolsResolver(Resolver):
    name = "pip-tools"

    def resolve(self, request: ResolveRequest) -> Resolution:
        target = request.target
        host = host_platform()
        host_python = f"{sys.version_info.major}.{sys.version_info.minor}"
        if target.platform != host or target.python != host_python:
            raise ResolutionImpossible(
                f'target "{target.name}": pip-tools resolves only for this host ({host}, Python '
                f"{host_python}), not for {target.platform} with Python {target.python}",
                hint='use resolver = "uv" for this target (the default)')
        if target.sources:
            raise ResolutionImpossible(
                f'target "{target.name}": pip-tools cannot route a package to one index (sources)',
                hint='use resolver = "uv" for targets with sources')
        from envbuild.export import configured_index_url

        urls = {DEFAULT_INDEX: configured_index_url()}
        extra = [i for n, i in sorted(request.indexes.items())
                 if n != DEFAULT_INDEX and i.url and not i.explicit]
        urls.update({i.name: str(i.url) for i in extra})
        work = request.workdir
        work.mkdir(parents=True, exist_ok=True)
        (work / "requirements.in").write_text("\n".join(request.requirements) + "\n")
        out = work / "requirements.txt"
        if request.preferences and not request.upgrade:
            out.write_text("".join(f"{n}=={v}\n" for n, v in sorted(request.preferences.items())))
        args = [sys.executable, "-m", "piptools", "compile", "--generate-hashes", "--quiet",
                "--no-header", "--annotation-style", "split", "-o", str(out),
                str(work / "requirements.in")]
        # The same default index as uv and the exports: the user's configured one.
        args += [f"--index-url={urls[DEFAULT_INDEX]}", *(f"--extra-index-url={i.url}" for i in extra)]
        if not request.allow_sdist:
            args.append("--pip-args=--only-binary=:all:")
        if request.upgrade:
            args.append("--upgrade")
        args += [f"--upgrade-package={p}" for p in request.upgrade_packages]
        proc = subprocess.run(args, cwd=work, capture_output=True, text=True, check=False,
                              env={**os.environ, "CUSTOM_COMPILE_COMMAND": "envbuild lock"})
        if proc.returncode != 0:
            message = scrub(proc.stderr.strip())
            kind = ResolutionImpossible if "ResolutionImpossible" in message or \
                "No matching distribution" in message else ResolverError
            raise kind(f'target "{target.name}": pip-compile failed:\n{message}')
        return self._read(out.read_text(), request, urls)

    def _read(self, text: str, request: ResolveRequest, urls: dict[str, str]) -> Resolution:
        pins: dict[str, tuple[str, set[str]]] = {}
        edges: dict[str, set[str]] = {}
        current = ""
        in_via = False
        for line in text.splitlines():
            pin = _PIN.match(line)
            if pin:
                current = canonicalize_name(pin.group(1))
                pins[current] = (pin.group(2), set())
                in_via = False
            for found in _HASH.findall(line):
                pins[current][1].add("sha256:" + found)
            via = _VIA.match(line)
            if via:
                in_via = True
                parents = [via.group(1)] if via.group(1) else []
            elif in_via and line.strip().startswith("#   "):
                parents = [line.strip()[1:].strip()]
            else:
                parents = []
            for parent in parents:
                if parent and not parent.startswith("-r") and "(" not in parent:
                    edges.setdefault(canonicalize_name(parent), set()).add(current)
        packages = []
        for name, (version, hashes) in sorted(pins.items()):
            candidates, index = self._files(name, version, hashes, urls)
            artifact = choose_artifact(name, version, candidates, request.target,
                                       allow_sdist="*" in request.allow_sdist
                                       or name in request.allow_sdist)
            packages.append(ResolvedPackage(name=name, version=version, index=index, index_url=urls[index],
                                            dependencies=tuple(sorted(edges.get(name, ()))),
                                            artifact=artifact))
        return Resolution(packages=tuple(packages))

    @staticmethod
    def _files(name: str, version: str, hashes: set[str], urls: dict[str, str]
               ) -> tuple[list[Candidate], str]:
        for index, url in urls.items():
            found = []
            for entry in project_files(url, name, index_name=index):
                digests = entry.get("hashes")
                sha = digests.get("sha256") if isinstance(digests, dict) else None
                if sha and f"sha256:{sha}" in hashes:
                    filename = str(entry.get("filename"))
                    size = entry.get("size")
                    found.append(Candidate(
                        kind="sdist" if not filename.endswith(".whl") else "wheel",
                        file=filename, url=str(entry["url"]),
                        size=size if isinstance(size, int) else None, hash=f"sha256:{sha}"))
            if found:
                return found, index
        raise ResolverError(f"{name} {version}: none of the files pip-compile chose is on a "
                            "declared index")
