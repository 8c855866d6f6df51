"""The `[cluster]` and `[run]` sections of `envbuild.toml`, as frozen settings.

`parse_cluster(document, file=..., line_of=...)` takes the whole parsed TOML document (it
checks pool targets against `[targets]`) and returns the settings with every problem found,
each naming file:line, the dotted key and a fix. It never raises on bad input.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from envbuild.cluster import PROVIDERS, k8snames
from envbuild.cluster.launchers import CHOICES as LAUNCHER_CHOICES
from envbuild.cluster.volumes import VolumeSettings, parse_volume
from envbuild.errors import Problem
from envbuild.runtime.determinism import PROFILES

LineOf = Callable[[str], int | None]
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SLURM_TIME = re.compile(r"^(\d+-)?\d{1,2}(:\d{2}){0,2}$")
_CPU = re.compile(r"^(?:(?P<milli>[1-9]\d{0,6})m|(?P<cores>\d{1,4}(?:\.\d{1,3})?))$")
_MEMORY = re.compile(r"^(?P<n>[1-9]\d{0,7})(?P<unit>Mi|Gi|Ti)$")
_MEMORY_MIB = {"Mi": 1, "Gi": 1024, "Ti": 1024 * 1024}
_CLUSTER_KEYS = ("providers", "name", "namespace", "service-account", "image-pull-secrets",
                 "rendezvous-port", "queue", "pools", "volumes", "karpenter", "gke", "eks",
                 "slurm")
_POOL_KEYS = ("target", "gpu", "gpus-per-node", "nodes", "capacity", "gpu-match",
              "machine-type", "instance-types", "gke-accelerator", "cpu", "memory")
_PROVIDER_KEYS = {
    "karpenter": ("role", "discovery", "ami-alias"),
    "gke": ("project", "location", "cluster", "node-version", "gpu-driver"),
    "eks": ("cluster-name", "node-role-arn", "subnet-ids", "release-version",
            "kubernetes-version"),
    "slurm": ("mode", "venv", "envbuild", "partition", "account", "time", "container-mounts"),
}
_RUN_KEYS = ("command", "nodes", "determinism", "seed", "env", "launcher")
CAPACITIES = ("on-demand", "spot")
GPU_MATCHES = ("product", "compute-capability")
GPU_DRIVERS = ("DEFAULT", "LATEST")
SLURM_MODES = ("venv", "container")


@dataclass(frozen=True, kw_only=True, slots=True)
class PoolSettings:
    name: str
    target: str
    gpu: str | None  # None: a CPU pool
    gpus_per_node: int  # 0 in a CPU pool
    nodes_min: int
    nodes_max: int
    capacity: str = "on-demand"
    gpu_match: str = "product"  # node affinity on GFD product names or compute capability
    machine_type: str | None = None  # GKE
    instance_types: tuple[str, ...] = ()  # EKS and Karpenter
    gke_accelerator: str | None = None  # one of the GPU's GKE names, when it has several
    cpu_milli: int | None = None  # `cpu`: the pod's CPU request and limit, in millicores
    memory_mib: int | None = None  # `memory`: the pod's memory request and limit


@dataclass(frozen=True, kw_only=True, slots=True)
class ProviderSettings:
    """One provider's table: kebab-case key -> value, as given (strings or string arrays)."""

    values: tuple[tuple[str, str | tuple[str, ...]], ...] = ()

    def get(self, key: str) -> str | None:
        value = dict(self.values).get(key)
        return value if isinstance(value, str) else None

    def strings(self, key: str) -> tuple[str, ...] | None:
        value = dict(self.values).get(key)
        return value if isinstance(value, tuple) else None


@dataclass(frozen=True, kw_only=True, slots=True)
class ClusterSettings:
    providers: tuple[str, ...]
    name: str | None  # prefix of every object name; default: the project name
    namespace: str = "default"
    service_account: str | None = None
    image_pull_secrets: tuple[str, ...] = ()
    rendezvous_port: int = 29500
    queue: str | None = None  # Kueue LocalQueue the Jobs are submitted to
    pools: tuple[PoolSettings, ...] = ()
    volumes: tuple[VolumeSettings, ...] = ()
    karpenter: ProviderSettings = ProviderSettings()
    gke: ProviderSettings = ProviderSettings()
    eks: ProviderSettings = ProviderSettings()
    slurm: ProviderSettings = ProviderSettings()

    def provider(self, name: str) -> ProviderSettings:
        table: ProviderSettings = getattr(self, name)
        return table


@dataclass(frozen=True, kw_only=True, slots=True)
class RunSettings:
    command: tuple[str, ...]
    nodes: int = 1
    determinism: str = "strict"
    seed: int = 0
    env: tuple[tuple[str, str], ...] = ()
    launcher: str = "auto"  # one of envbuild.cluster.launchers.CHOICES


@dataclass(frozen=True, kw_only=True, slots=True)
class ClusterManifest:
    cluster: ClusterSettings | None
    run: RunSettings | None
    mounts: tuple[tuple[str, str], ...] = ()  # (dataset, mount) of datasets with a `mount`
    code_dir: str = "."  # where `python -m` finds the code, relative to the manifest's folder


def parse_cluster(document: Mapping[str, Any], *, file: str,
                  line_of: LineOf) -> tuple[ClusterManifest, list[Problem]]:
    """Settings of `[cluster]` and `[run]` (None where absent) and every problem found."""
    r = _Reader(file, line_of)
    targets = document.get("targets")
    names = tuple(sorted(targets)) if isinstance(targets, dict) else ()
    datasets = document.get("datasets")
    mounts = tuple((name, raw["mount"]) for name, raw in sorted(datasets.items())
                   if isinstance(raw, dict) and isinstance(raw.get("mount"), str)
                   and raw["mount"]) if isinstance(datasets, dict) else ()
    cluster = _cluster(r, document["cluster"], names, mounts) if "cluster" in document else None
    run = _run(r, document["run"]) if "run" in document else None
    problems = sorted(r.problems, key=lambda p: (p.line or 0, p.key, p.message))
    return ClusterManifest(cluster=cluster, run=run, mounts=mounts), problems


def _cluster(r: _Reader, raw: Any, targets: tuple[str, ...],
             mounts: tuple[tuple[str, str], ...]) -> ClusterSettings | None:
    table = r.table(raw, "cluster")
    if table is None:
        return None
    r.unknown(table, "cluster", _CLUSTER_KEYS)
    providers = r.strings(table, "cluster", "providers")
    if providers is None:
        providers = PROVIDERS
    for position, provider in enumerate(providers):
        if provider not in PROVIDERS:
            r.problem(f"cluster.providers[{position}]",
                      f'unknown provider "{provider}"{_suggest(provider, PROVIDERS)}')
    name = r.string(table, "cluster", "name")
    if name is not None and (problem := k8snames.pool_name_problem(name, "cluster name")):
        r.problem("cluster.name", problem)
    namespace = r.string(table, "cluster", "namespace") or "default"
    if not k8snames.is_dns_label(namespace):
        r.problem("cluster.namespace", f'"{namespace}" is not a valid namespace; use a DNS label, '
                                       'e.g. namespace = "training"')
    port = r.integer(table, "cluster", "rendezvous-port", 29500, low=1, high=65535) or 29500
    pools_table = r.table(table.get("pools", {}), "cluster.pools") or {}
    if not pools_table:
        r.problem("cluster", 'no pools declared; add one, e.g. [cluster.pools.h100] '
                             'target = "h100", gpu = "H100", gpus-per-node = 8')
    pools = tuple(p for p in (_pool(r, n, pools_table[n], targets) for n in sorted(pools_table))
                  if p is not None)
    volumes_table = r.table(table.get("volumes", {}), "cluster.volumes") or {}
    volumes = tuple(v for v in (parse_volume(r, n, volumes_table[n], mounts)
                                for n in sorted(volumes_table)) if v is not None)
    queue = r.string(table, "cluster", "queue")
    if queue is not None and not k8snames.is_dns_subdomain(queue):
        r.problem("cluster.queue", f'"{queue}" is not a Kueue LocalQueue name; use a DNS '
                                   'subdomain, e.g. queue = "team-a"')
    providers_settings = {key: _provider(r, key, table.get(key)) for key in _PROVIDER_KEYS}
    _check_slurm(r, providers_settings["slurm"])
    gpu_driver = providers_settings["gke"].get("gpu-driver")
    if gpu_driver is not None and gpu_driver not in GPU_DRIVERS:
        r.problem("cluster.gke.gpu-driver", f'"{gpu_driver}" is not a GKE driver version; GKE '
                                            'accepts gpu-driver = "DEFAULT" or "LATEST" only')
    return ClusterSettings(
        providers=tuple(sorted(set(providers), key=PROVIDERS.index)) if not r.problems_at(
            "cluster.providers") else (), name=name, namespace=namespace,
        service_account=_object_name(r, "cluster.service-account",
                                     r.string(table, "cluster", "service-account")),
        image_pull_secrets=tuple(
            secret for position, secret in enumerate(
                r.strings(table, "cluster", "image-pull-secrets") or ())
            if _object_name(r, f"cluster.image-pull-secrets[{position}]", secret)),
        rendezvous_port=port, queue=queue, pools=pools, volumes=volumes, **providers_settings)


def _object_name(r: _Reader, key: str, name: str | None) -> str | None:
    """A Kubernetes object's name (a DNS subdomain), or None with a problem recorded."""
    if name is None or k8snames.is_dns_subdomain(name):
        return name
    r.problem(key, f'"{name}" is not a Kubernetes object name; use at most 253 lower-case '
                   "letters, digits, '-' and '.', each dot-separated part starting and ending "
                   'with a letter or digit, e.g. "registry-credentials"')
    return None


def _pool(r: _Reader, name: str, raw: Any, targets: tuple[str, ...]) -> PoolSettings | None:
    key = f"cluster.pools.{name}"
    table = r.table(raw, key)
    if table is None:
        return None
    if problem := k8snames.pool_name_problem(name, "pool name"):
        r.problem(key, problem)
    r.unknown(table, key, _POOL_KEYS)
    target = r.string(table, key, "target", required=f'target = "{targets[0] if targets else "h100"}"')
    if target is not None and targets and target not in targets:
        r.problem(f"{key}.target", f'unknown target "{target}"{_suggest(target, targets)}')
    # A pool without `gpu` is a CPU pool; the plan refuses one whose target locks CUDA.
    gpu = r.string(table, key, "gpu", required='gpu = "H100"' if "gpus-per-node" in table
                   else None)
    per_node = r.integer(table, key, "gpus-per-node", None, low=1, high=64,
                         required="gpus-per-node = 8" if gpu is not None else None)
    if gpu is None and per_node is not None:
        per_node = None  # the missing `gpu` is reported
    cpu_milli = _cpu(r, table, key)
    memory_mib = _memory(r, table, key)
    if gpu is None and "gpu" not in table and "gpus-per-node" not in table \
            and not table.get("instance-types") and not table.get("machine-type") \
            and (cpu_milli is None or memory_mib is None) \
            and not r.problems_at(f"{key}.cpu") and not r.problems_at(f"{key}.memory"):
        r.problem(key, "a CPU pool (no gpu) needs its nodes' shape: add instance-types = "
                       '["m7i.4xlarge"] / machine-type = "n2-standard-16", or cpu = 8 and '
                       'memory = "32Gi" (or gpu = "H100" and gpus-per-node = 8 for a GPU pool)')
    nodes = table.get("nodes", {"min": 0, "max": 1})
    low, high = 0, 1
    if isinstance(nodes, int) and not isinstance(nodes, bool):
        low = high = nodes
    elif isinstance(nodes, dict):
        r.unknown(nodes, f"{key}.nodes", ("min", "max"))
        low = r.integer(nodes, f"{key}.nodes", "min", 0, low=0, high=10000) or 0
        high = r.integer(nodes, f"{key}.nodes", "max", 1, low=1, high=10000) or 1
    else:
        r.problem(f"{key}.nodes", f"must be a table or an integer, not {_kind(nodes)}; "
                                  "e.g. nodes = { min = 0, max = 4 }")
    if low > high:
        r.problem(f"{key}.nodes", f"min ({low}) is above max ({high}); lower min or raise max")
    capacity = r.choice(table, key, "capacity", CAPACITIES) or "on-demand"
    match = r.choice(table, key, "gpu-match", GPU_MATCHES) or "product"
    if target is None or (gpu is None) != (per_node is None) or r.problems_at(f"{key}.cpu") \
            or r.problems_at(f"{key}.memory"):
        return None
    return PoolSettings(name=name, target=target, gpu=gpu, gpus_per_node=per_node or 0,
                        cpu_milli=cpu_milli, memory_mib=memory_mib, nodes_min=low,
                        nodes_max=high, capacity=capacity, gpu_match=match,
                        machine_type=r.string(table, key, "machine-type"),
                        instance_types=r.strings(table, key, "instance-types") or (),
                        gke_accelerator=r.string(table, key, "gke-accelerator"))


def _cpu(r: _Reader, table: Mapping[str, Any], key: str) -> int | None:
    """`cpu = 8`, `cpu = 7.5` or `cpu = "7500m"` as millicores."""
    value = table.get("cpu")
    if value is None:
        return None
    text = str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else value if isinstance(value, str) else None
    match = _CPU.match(text) if text is not None else None
    milli = (int(match["milli"]) if match["milli"] else round(float(match["cores"]) * 1000)) \
        if match else 0
    if milli <= 0:
        r.problem(f"{key}.cpu", f"{value!r} is not a CPU amount; use cores or millicores, e.g. "
                                'cpu = 8 or cpu = "7500m"')
        return None
    return milli


def _memory(r: _Reader, table: Mapping[str, Any], key: str) -> int | None:
    """`memory = "64Gi"` (Mi, Gi or Ti) as MiB."""
    value = table.get("memory")
    if value is None:
        return None
    match = _MEMORY.match(value) if isinstance(value, str) else None
    if match is None:
        r.problem(f"{key}.memory", f"{value!r} is not a memory amount; use Mi, Gi or Ti, e.g. "
                                   'memory = "64Gi"')
        return None
    return int(match["n"]) * _MEMORY_MIB[match["unit"]]


def _provider(r: _Reader, name: str, raw: Any) -> ProviderSettings:
    key = f"cluster.{name}"
    table = r.table(raw, key) if raw is not None else {}
    if not table:
        return ProviderSettings()
    r.unknown(table, key, _PROVIDER_KEYS[name])
    values: list[tuple[str, str | tuple[str, ...]]] = []
    for item in sorted(table):
        value = table[item]
        if isinstance(value, list):
            strings = r.strings(table, key, item)
            if strings is not None:
                values.append((item, strings))
        elif isinstance(value, str):
            values.append((item, value))
        else:
            r.problem(f"{key}.{item}", f"must be a string, not {_kind(value)}")
    return ProviderSettings(values=tuple(values))


def _check_slurm(r: _Reader, slurm: ProviderSettings) -> None:
    mode = slurm.get("mode")
    if mode is not None and mode not in SLURM_MODES:
        r.problem("cluster.slurm.mode", f'unknown mode "{mode}"; use "venv" (an environment '
                                        'installed from the lock) or "container" (pyxis)')
    time = slurm.get("time")
    if time is not None and not _SLURM_TIME.match(time):
        r.problem("cluster.slurm.time", f'"{time}" is not a Slurm time; e.g. time = "24:00:00" '
                                        'or "2-00:00:00"')


def _run(r: _Reader, raw: Any) -> RunSettings | None:
    table = r.table(raw, "run")
    if table is None:
        return None
    r.unknown(table, "run", _RUN_KEYS)
    command = r.strings(table, "run", "command")
    if "command" not in table:
        r.problem("run", 'missing required key "command"; add command = ["python3", "-m", "train"]')
    elif command == ():
        r.problem("run.command", 'is empty; name the program, e.g. command = ["python3", "-m", "train"]')
    nodes = r.integer(table, "run", "nodes", 1, low=1, high=10000) or 1
    determinism = r.choice(table, "run", "determinism", tuple(sorted(PROFILES))) or "strict"
    seed = r.integer(table, "run", "seed", 0, low=0, high=2**32 - 1) or 0
    launcher = r.choice(table, "run", "launcher", LAUNCHER_CHOICES) or "auto"
    env_table = r.table(table.get("env", {}), "run.env") or {}
    env = []
    for name in sorted(env_table):
        value = env_table[name]
        if not _ENV_NAME.match(name):
            r.problem(f"run.env.{name}", "invalid variable name; use letters, digits and '_'")
        elif not isinstance(value, str):
            r.problem(f"run.env.{name}", f'must be a string, not {_kind(value)}; quote it: '
                                         f'{name} = "{value}"')
        else:
            env.append((name, value))
    if not command:
        return None
    return RunSettings(command=command, nodes=nodes, determinism=determinism, seed=seed,
                       env=tuple(env), launcher=launcher)


def _suggest(value: str, allowed: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(value, allowed, n=1)
    return f'; did you mean "{close[0]}"?' if close else f"; use one of: {', '.join(allowed)}"


def _kind(value: Any) -> str:
    return {dict: "a table", list: "an array", str: "a string", bool: "a boolean",
            int: "an integer", float: "a float"}.get(type(value), type(value).__name__)


class _Reader:
    """Typed getters that record problems (file, line, dotted key, fix) instead of raising."""

    def __init__(self, file: str, line_of: LineOf) -> None:
        self.file = file
        self.line_of = line_of
        self.problems: list[Problem] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(Problem(file=self.file, line=self.line_of(key), key=key,
                                     message=message))

    def problems_at(self, prefix: str) -> bool:
        return any(p.key.startswith(prefix) for p in self.problems)

    def table(self, raw: Any, key: str) -> dict[str, Any] | None:
        if not isinstance(raw, dict):
            self.problem(key, f"must be a table, not {_kind(raw)}")
            return None
        return raw

    def unknown(self, table: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> None:
        for name in sorted(table):
            if name not in allowed:
                self.problem(f"{key}.{name}", f"unknown key{_suggest(name, allowed)}")

    def string(self, table: Mapping[str, Any], key: str, name: str, *,
               required: str | None = None) -> str | None:
        value = table.get(name)
        if value is None:
            if required is not None:
                self.problem(key, f'missing required key "{name}"; add {required}')
            return None
        if not isinstance(value, str) or not value:
            self.problem(f"{key}.{name}", f"must be a non-empty string, not {_kind(value)}")
            return None
        return value

    def strings(self, table: Mapping[str, Any], key: str, name: str) -> tuple[str, ...] | None:
        value = table.get(name)
        if value is None:
            return None
        if not isinstance(value, list):
            self.problem(f"{key}.{name}", f"must be an array of strings, not {_kind(value)}")
            return None
        bad = [i for i, item in enumerate(value) if not isinstance(item, str) or not item]
        for position in bad:
            self.problem(f"{key}.{name}[{position}]",
                         f"must be a non-empty string, not {_kind(value[position])}")
        return None if bad else tuple(value)

    def integer(self, table: Mapping[str, Any], key: str, name: str, default: int | None, *,
                low: int, high: int, required: str | None = None) -> int | None:
        value = table.get(name)
        if value is None:
            if required is not None:
                self.problem(key, f'missing required key "{name}"; add {required}')
            return default
        if not isinstance(value, int) or isinstance(value, bool):
            self.problem(f"{key}.{name}", f"must be an integer, not {_kind(value)}")
            return default
        if not low <= value <= high:
            self.problem(f"{key}.{name}", f"{value} is out of range; use {low} to {high}")
            return default
        return value

    def choice(self, table: Mapping[str, Any], key: str, name: str,
               allowed: tuple[str, ...]) -> str | None:
        value = self.string(table, key, name)
        if value is not None and value not in allowed:
            self.problem(f"{key}.{name}", f'unknown value "{value}"{_suggest(value, allowed)}')
            return None
        return value
