"""The conda case of scripts/bench_lock (run with envbuild's venv python; prints one JSON line).

Builds the tests' local channel, serves it on 127.0.0.1, and times, best of N, with a fresh
cache for every cold run:
- in one process, after a first uncounted run of each (so imports are not counted):
  envbuild's lock core (`envbuild.locking.core.lock`, both targets) against rattler.solve
  of the same specs with the same virtual packages (the floor), cold and warm cache;
- as commands: `envbuild lock` against a script that does the floor's solves.
Usage: _bench_conda.py ROOT RUNS
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, sys.argv[1])

from envbuild.locking.core import LockOptions, lock
from tests.support.conda_channel import standard_channel

SPECS = ["accel", "python 3.11.*", "beta", "prefixed", "tinyutil"]
COMMON = [("__glibc", "2.28", "0"), ("__linux", "4.18", "0"), ("__unix", "0", "0")]
TARGETS = [("linux-64", [*SPECS, "cuda-toolkit"], [("__archspec", "1", "x86_64"), ("__cuda", "12.4", "0"), *COMMON]),
           ("linux-aarch64", SPECS, [("__archspec", "1", "aarch64"), *COMMON])]
MANIFEST = """[project]
name = "bench"
python = "3.11"
[indexes]
forge = {{ url = "{url}", kind = "conda" }}
[conda]
channels = ["forge"]
[dependencies]
conda = ["accel", "python=3.11", "beta", "prefixed", "tinyutil"]
[targets.gpu]
platform = "linux/amd64"
cuda = "12.4"
gpus = ["H100"]
conda = ["cuda-toolkit"]
[targets.arm]
platform = "linux/arm64"
"""
FLOOR = '''
import asyncio, sys
import rattler
from rattler import BuildString, Channel, Gateway, GenericVirtualPackage, PackageName, Version


async def floor(url, cache, targets):
    gateway = Gateway(cache_dir=cache)
    for subdir, specs, virtual in targets:
        await rattler.solve(sources=[Channel(url)], specs=specs, gateway=gateway, platforms=[subdir, "noarch"],
                            virtual_packages=[GenericVirtualPackage(PackageName(n), Version(v), BuildString(b))
                                              for n, v, b in virtual])
'''
namespace: dict[str, object] = {}
exec(FLOOR, namespace)
floor = namespace["floor"]


def main() -> None:
    runs = int(sys.argv[2])
    results: dict[str, list[float]] = {k: [] for k in ("eb_cold", "eb_warm", "floor_cold", "floor_warm",
                                                       "cli_eb", "cli_floor")}
    with tempfile.TemporaryDirectory(prefix="bench-conda-") as scratch:
        work = Path(scratch)
        channel = standard_channel(work / "channel")
        with channel.serve() as url:
            manifest = work / "envbuild.toml"
            manifest.write_text(MANIFEST.format(url=url))
            lock_path = work / "envbuild.lock"
            for run in range(runs + 1):  # run 0 warms imports and is not counted
                os.environ["ENVBUILD_CACHE_DIR"] = str(work / f"eb-{run}")
                for phase in ("cold", "warm"):
                    lock_path.unlink(missing_ok=True)
                    start = time.perf_counter()
                    lock(LockOptions(manifest_path=manifest, lock_path=lock_path), lambda line: None)
                    ours = time.perf_counter() - start
                    start = time.perf_counter()
                    asyncio.run(floor(url, str(work / f"floor-{run}"), TARGETS))  # type: ignore[operator]
                    theirs = time.perf_counter() - start
                    if run:
                        results[f"eb_{phase}"].append(ours)
                        results[f"floor_{phase}"].append(theirs)
            script = work / "floor.py"
            # os._exit: py-rattler 0.28 aborts in about one exit in four when a script ends with
            # rattler objects still alive (PyGILState_Release during finalisation).
            script.write_text(FLOOR + f"asyncio.run(floor(sys.argv[1], sys.argv[2], {TARGETS!r}))\n"
                              "import os\nos._exit(0)\n")
            envbuild = str(Path(sys.executable).with_name("envbuild"))
            for run in range(runs):
                env = dict(os.environ, ENVBUILD_CACHE_DIR=str(work / f"cli-eb-{run}"))
                lock_path.unlink(missing_ok=True)
                for key, cmd in (("cli_eb", [envbuild, "lock", "-f", str(manifest)]),
                                 ("cli_floor", [sys.executable, str(script), url, str(work / f"cli-floor-{run}")])):
                    start = time.perf_counter()
                    subprocess.run(cmd, env=env, check=True, capture_output=True)
                    results[key].append(time.perf_counter() - start)
    print(json.dumps({k: min(v) for k, v in results.items()}))


if __name__ == "__main__":
    main()
