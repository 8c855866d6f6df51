"""A Docker build context for one locked target: what `envbuild export --format dockerfile`
writes and the `docker` builder builds.

    Dockerfile          FROM the base by digest; an `install` stage runs pip, the image
                        stage copies what it installed, the payload and the project files
    requirements.txt    name==version --hash=sha256:... for every locked package
    wheels/             the locked wheels, fetched and checked by envbuild (pip installs
                        with --no-index: nothing is fetched during the build)
    envbuild/installer/ the pip that runs the install (envbuild's own; only in the stage)
    envbuild/settle.py  moves pip's site-packages to the image's site directory and sets
                        every mtime to the build epoch, so the copied layer is the same
                        bytes on every build
    payload/            /opt/envbuild: the target's lock and the verifier, as in every image
    project/            the `[image] copy` files under the workdir's path, and the working
                        directory (COPY and WORKDIR would stamp a folder they make with
                        the time of the build)
    base.tar            (export only, a layout or archive base) the base as a
                        docker-archive to `docker load`; .dockerignore keeps it out of
                        the build

Labels, environment, working directory and entrypoint are the native builder's. The
engine writes its own config (created times, container IDs), so the image ID differs
from build to build; the layers' contents do not (README: the docker builder).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import posixpath
import shutil
from dataclasses import dataclass
from pathlib import Path

from envbuild.canonical import digest
from envbuild.errors import CheckFailed, InputError
from envbuild.image.base import BaseImage
from envbuild.image.builders.interface import BuildRequest
from envbuild.image.config import BUILDER_LABEL, image_command, image_env, timestamp
from envbuild.image.install import InstallLayout
from envbuild.image.payload import payload_inputs
from envbuild.image.plan import image_hash
from envbuild.image.wheels import ensure_wheels, file_digest
from envbuild.lockfile.model import LockedTarget
from envbuild.manifest.image import ARCHIVE, base_location
from envbuild.safepath import check_component, inside, relative

MARKER = ".envbuild-context"  # names a folder as a context envbuild may replace
BASE_ARCHIVE = "base.tar"  # an exported context's base, as a docker-archive to `docker load`
_STAGE = "/tmp/envbuild"  # in the install stage only; never in the image


@dataclass(frozen=True, kw_only=True, slots=True)
class DockerContext:
    """A written context and what the builder needs to build and describe it."""

    folder: Path
    target: LockedTarget
    base: BaseImage
    base_ref: str  # what FROM names: `host/repo@sha256:...` or an image ID `sha256:...`
    base_config_digest: str  # the engine's ID of the base
    image_hash: str
    platform: tuple[str, str]
    layer_names: tuple[str, ...]  # of the layers the Dockerfile makes, in order


def base_from(base: BaseImage, reference: str, folder: Path) -> tuple[str, str]:
    """(what FROM names, the base's image ID). A registry base is named by repository and
    manifest digest; a layout or archive base has no repository, so by its image ID (the
    config digest), which the engine gives it when the builder loads it."""
    manifest = json.loads(base.blob(base.manifest_digest).read_bytes())
    config_digest = str(manifest["config"]["digest"])
    location = base_location(reference, folder)
    if location.startswith(("oci:", ARCHIVE)):
        return config_digest, config_digest
    from envbuild.image.registry.interface import parse_reference

    ref = parse_reference(reference, what="base")
    return f"{ref.registry}/{ref.repository}@{base.manifest_digest}", config_digest


def write_context(request: BuildRequest, name: str, folder: Path) -> DockerContext:
    """Write target `name`'s context into the new folder `folder` (wheels fetched and checked
    against the lock first)."""
    from envbuild.image.builders.oci import NativeOciBuilder, _our_env

    target = request.lock.targets[name]
    # The context installs wheels with pip; conda packages and a base made of the locked
    # Debian packages are the native builder's work (the Nix builder hands them to it too).
    if target.conda or target.base == "system":
        what = "conda packages" if target.conda else 'a base built from [system] (base = "system")'
        raise InputError(f'target "{name}": the docker builder installs Python wheels only, and this '
                         f"target has {what}", hint="build it with --builder oci")
    # The native builder's checks, the same ones: platform, a stale base pin, glibc floors,
    # the interpreter's version, the image's command (entrypoint, run.command).
    plan = NativeOciBuilder()._prepare(request, name)
    base, platform = plan.base, plan.platform
    if base is None:
        raise InputError(f'target "{name}": the docker builder needs a base with Python',
                         hint='set [image] base, or build with --builder oci')
    packages = sorted(target.packages, key=lambda p: p.name)
    wheels = ensure_wheels(request.store, packages, urls=request.urls,
                           offline=request.offline, progress=request.progress)
    if plan.check_again is not None and not plan.check_again():
        request.progress(f"{name}: the image's command was not checked: a locked wheel is "
                         "not in the cache")
    base_ref, config_digest = base_from(base, target.base or "", request.project_dir)
    folder.mkdir(parents=True)
    _write(folder / MARKER, b"written by envbuild (a Docker build context)\n", request.epoch)
    for package in packages:
        file = check_component(package.artifact.file, what="wheel file name")
        dest = inside(folder, "wheels", file, what="wheel file name")
        dest.parent.mkdir(exist_ok=True)
        shutil.copyfile(wheels[package.artifact.hash], dest)
        os.utime(dest, (request.epoch, request.epoch))
        if file_digest(dest)[0] != package.artifact.hash:  # copied bytes are the locked ones
            raise CheckFailed(f"{package.name}: {file} in the context differs from the lock",
                              hint="the cache changed during the copy; run again")
    requirements = "".join(f"{p.name}=={p.version} \\\n    --hash={p.artifact.hash}\n"
                           for p in packages)
    _write(folder / "requirements.txt", requirements.encode(), request.epoch)
    installer = _copy_installer(folder / "envbuild" / "installer", request.epoch)
    _write(folder / "envbuild" / "settle.py", _SETTLE.encode(), request.epoch)
    for path, data in sorted(plan.payload.items()):
        _write(relative(folder / "payload", path.lstrip("/"), what="payload path"), data,
               request.epoch)
    workdir = _quote_path(request.settings.workdir).strip("/")
    for f in plan.files:  # under the workdir's own path: COPY makes no folder of its own
        dest = relative(folder / "project", f"{workdir}/{f.dest}".lstrip("/"),
                        what="copied file")
        _write(dest, f.source.read_bytes(), request.epoch, executable=f.executable)
    # WORKDIR would make its folder, stamped with the time of the build, in a layer.
    working = relative(folder / "project", _quote_path(request.settings.working_dir).lstrip("/"),
                       what="working directory") if request.settings.working_dir != "/" \
        else folder / "project"
    working.mkdir(parents=True, exist_ok=True)
    body = _dockerfile(request, target, base, base_ref, plan.layout,
                       env=_our_env(plan.layout, target, request, base.config),
                       has_packages=bool(packages))
    hashed = image_hash(target, request.settings, base.manifest_digest, list(plan.files),
                        epoch=request.epoch, payload=digest(payload_inputs(plan.payload)),
                        layer_keys=[digest({"builder": "docker", "dockerfile": body,
                                            "installer": installer})])
    labels = [(BUILDER_LABEL, "docker"), ("org.envbuild.target", target.name),
              ("org.envbuild.target-hash", target.hash),
              ("org.envbuild.image-hash", hashed), ("org.envbuild.python", plan.layout.interpreter),
              ("org.opencontainers.image.created", timestamp(request.epoch)),
              ("org.opencontainers.image.title", request.lock.name),
              ("org.opencontainers.image.base.digest", base.manifest_digest)]
    text = body + "LABEL " + " \\\n      ".join(f"{_quote(k)}={_quote(v)}" for k, v in labels)
    _write(folder / "Dockerfile", (text + "\n").encode(), request.epoch)
    for entry in [folder, *folder.rglob("*")]:
        if entry.is_dir():  # folders too: COPY keeps their times
            entry.chmod(0o755)
            os.utime(entry, (request.epoch, request.epoch))
    return DockerContext(folder=folder, target=target, base=base, base_ref=base_ref,
                         base_config_digest=config_digest, image_hash=hashed,
                         platform=platform, layer_names=tuple(
                             [f"{len(packages)} packages (pip)"] * bool(packages)
                             + ["envbuild runtime and lock"]
                             + ["project files" if plan.files else "working directory"]))


def _dockerfile(request: BuildRequest, target: LockedTarget, base: BaseImage, base_ref: str,
                layout: InstallLayout, *, env: list[tuple[str, str]],
                has_packages: bool) -> str:
    settings, python = request.settings, layout.interpreter
    lines = [f"# envbuild: target {target.name} of {request.lock.name}, target hash "
             f"{target.hash}", *_how_to_build(base_ref), ""]
    if has_packages:
        site_from = f"{layout.prefix}/lib/python{layout.python_version}/site-packages"
        lines += [f"FROM {base_ref} AS install",
                  f"COPY envbuild/ {_STAGE}/",
                  f"COPY wheels/ {_STAGE}/wheels/",
                  f"COPY requirements.txt {_STAGE}/",
                  f"RUN PYTHONPATH={_STAGE}/installer {python} -m pip install --require-hashes "
                  f"--no-deps --no-index --find-links {_STAGE}/wheels --no-compile "
                  "--no-cache-dir --disable-pip-version-check --root-user-action=ignore "
                  f"--root {_STAGE}/root --prefix {layout.prefix} -r {_STAGE}/requirements.txt \\",
                  f" && {python} {_STAGE}/settle.py {_STAGE}/root {site_from} "
                  f"{layout.site_packages} {request.epoch}", ""]
    lines.append(f"FROM {base_ref}")
    if has_packages:
        lines.append(f"COPY --from=install {_STAGE}/root/ /")
    lines += ["COPY payload/ /", "COPY project/ /"]
    ours = image_env(base.config, env)
    inherited = image_env(base.config, [])
    for key, value in ours.items():
        if inherited.get(key) != value:
            lines.append(f"ENV {key}={_quote(value)}")
    lines.append(f"WORKDIR {_quote_path(settings.working_dir)}")
    if settings.entrypoint:
        lines.append(f"ENTRYPOINT {json.dumps(list(settings.entrypoint))}")
    elif dict(base.config.get("config") or {}).get("Entrypoint"):
        # The native builder never keeps a base's entrypoint; ENTRYPOINT also resets CMD.
        command, _ = image_command((), base.config)
        lines += ["ENTRYPOINT []", f"CMD {json.dumps(list(command))}"]
    return "\n".join(lines) + "\n"


def _how_to_build(base_ref: str) -> list[str]:
    """The header's build command. A base by image ID is loaded, never pulled: BuildKit
    (Docker 23+'s default) reads `FROM sha256:<ID>` as a repository name, and an engine
    without that image would ask a registry for it."""
    if not base_ref.startswith("sha256:"):
        return ["# Build offline: docker build --network none DIR. The base must be in the",
                f"# engine first: docker pull {base_ref}",
                "# (envbuild image --builder docker pulls it, then builds)."]
    return ["# Build offline, with the classic builder (BuildKit reads FROM sha256:<ID> as a",
            "# repository name): DOCKER_BUILDKIT=0 docker build --network none DIR",
            f"# The base must be in the engine first, as {base_ref[:19]}...:",
            f"# docker load -i DIR/{BASE_ARCHIVE} (what envbuild export writes beside this file;",
            "# .dockerignore keeps it out of the build), or envbuild image --builder docker",
            "# (loads it, then builds)."]


def _quote(value: str) -> str:
    """A double-quoted Dockerfile word: `\\`, `"` and `$` escaped (ENV and LABEL substitute
    variables); a line break cannot be written, so it is refused."""
    if "\n" in value or "\r" in value:
        raise InputError(f"{value[:60]!r}: a line break cannot go into a Dockerfile",
                         hint="remove it from [image] env or the label's source")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


def _quote_path(path: str) -> str:
    if any(c.isspace() for c in path) or "$" in path or "\\" in path:
        raise InputError(f'"{path}": the docker builder takes no spaces, "$" or "\\" in '
                         "[image] workdir", hint="choose a plain path")
    return posixpath.normpath(path)


def _write(path: Path, data: bytes, epoch: int, *, executable: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(0o755 if executable else 0o644)
    os.utime(path, (epoch, epoch))


def _copy_installer(dest: Path, epoch: int) -> str:
    """Copy the pip that runs envbuild into the context; return its version."""
    import pip

    source = Path(pip.__file__).parent
    for path in sorted(source.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            _write(dest / "pip" / path.relative_to(source), path.read_bytes(), epoch)
    return f"pip {importlib.metadata.version('pip')}"


def export_context(request: BuildRequest, name: str, output: Path) -> DockerContext:
    """Write the context at `output`, replacing an earlier context only once the new one is
    complete; a folder that is not one (no marker) is never replaced."""
    from envbuild.fileio import write_error
    from envbuild.scratch import scratch_dir

    if output.exists() and (not output.is_dir() or (any(output.iterdir())
                                                    and not (output / MARKER).is_file())):
        raise InputError(f"{output} exists and is not an envbuild build context; it is not "
                         "replaced", hint="choose an empty or new folder for -o")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        with scratch_dir(f".{output.name}.tmp", root=output.parent) as tmp:
            context = write_context(request, name, tmp / "context")
            if context.base_ref.startswith("sha256:"):  # no registry to pull it from
                _write_base_archive(context, tmp / "context", request.epoch)
            with scratch_dir(f".{output.name}.old", root=output.parent) as old:
                if output.exists():
                    output.replace(old / "context")
                (tmp / "context").replace(output)
    except OSError as error:
        raise write_error(output, error) from None
    return DockerContext(folder=output, target=context.target, base=context.base,
                         base_ref=context.base_ref, base_config_digest=context.base_config_digest,
                         image_hash=context.image_hash, platform=context.platform,
                         layer_names=context.layer_names)


def _write_base_archive(context: DockerContext, folder: Path, epoch: int) -> None:
    from envbuild.image.builders.docker import base_archive

    base = context.base
    base_archive(folder / BASE_ARCHIVE, base.blob(base.manifest_digest), base.blob)
    os.utime(folder / BASE_ARCHIVE, (epoch, epoch))
    _write(folder / ".dockerignore", f"{BASE_ARCHIVE}\n".encode(), epoch)
    os.utime(folder, (epoch, epoch))


# Runs inside the install stage with the image's Python (standard library only).
_SETTLE = '''"""Move pip's site-packages to the image's site directory; set every mtime to the epoch."""
import os
import sys

root, site_from, site_to, epoch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
source, target = root + site_from, root + site_to
if source != target and os.path.isdir(source):
    os.makedirs(os.path.dirname(target), exist_ok=True)
    os.rename(source, target)
for folder, dirs, files in os.walk(root):
    for name in dirs + files:
        os.utime(os.path.join(folder, name), (epoch, epoch), follow_symlinks=False)
os.utime(root, (epoch, epoch))
'''
