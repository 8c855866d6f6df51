"""The builder of a Nix export's `site`: unpack wheels into `$out/lib/pythonX.Y/site-packages`.

Runs inside a Nix build with no nixpkgs, under the host's Python by absolute path (the
export's `python` argument, `/usr/bin/python3` by default): standard library only. Nix has
already fetched each wheel by its locked sha256, so nothing here needs the network.

Inputs (the derivation's environment): `out`, `wheels` (store paths, space-separated),
`pythonVersion` (`3.11`). A member that would land outside `$out`, or a file two wheels
both write, stops the build with a message naming the wheel and the member.
"""

from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path
from typing import NoReturn

# Where each `<name>.data/<scheme>/` part of a wheel goes, relative to $out.
_SCHEMES = {"purelib": "{site}", "platlib": "{site}", "scripts": "bin",
            "headers": "include", "data": ""}


def _fail(message: str) -> NoReturn:
    sys.stderr.write(f"envbuild-unpack: {message}\n")
    raise SystemExit(1)


def _destination(member: str, site: str) -> str | None:
    """The path under $out a wheel member goes to (None: a directory entry)."""
    if member.endswith("/"):
        return None
    parts = member.split("/")
    if member.startswith("/") or any(p in ("", ".", "..") or "\\" in p for p in parts):
        return ""
    if parts[0].endswith(".data") and len(parts) > 2:
        scheme = _SCHEMES.get(parts[1])
        if scheme is None:
            return ""
        prefix = scheme.format(site=site)
        return "/".join([prefix, *parts[2:]]) if prefix else "/".join(parts[2:])
    return "/".join([site, *parts])


def unpack(wheel: Path, out: Path, site: str, written: dict[str, str]) -> None:
    label = wheel.name.split("-", 1)[-1]  # the file name, without the store path's hash
    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as error:
        _fail(f"{label}: not a wheel: {error}")
    with archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            relative = _destination(info.filename, site)
            if relative is None:
                continue
            if not relative:
                _fail(f"{label}: member {info.filename!r} would be written outside the site")
            if relative in written:
                _fail(f"{label}: {relative} is also written by {written[relative]}")
            written[relative] = label
            path = out / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, path.open("wb") as target:
                while chunk := source.read(1 << 20):
                    target.write(chunk)
            executable = (info.external_attr >> 16) & 0o111 or relative.startswith("bin/")
            path.chmod(0o755 if executable else 0o644)


def main() -> None:
    # Nix names a derivation's attributes in its builder's environment as written.
    environ = os.environ
    out = Path(environ["out"])
    site = f"lib/python{environ['pythonVersion']}/site-packages"
    (out / site).mkdir(parents=True)
    written: dict[str, str] = {}
    for wheel in environ.get("wheels", "").split():
        unpack(Path(wheel), out, site, written)


if __name__ == "__main__":
    main()
