"""The manifest's conda parts (issue 12): `[conda] channels`, `[dependencies] conda`,
`[targets.T] conda` and `[indexes] NAME = { kind = "conda" }`.

`[dependencies]` is a table whose `python` key lists PyPI requirements; conda match specs
sit beside it under `conda`, so a manifest without conda reads exactly as before. Match
specs are parsed with rattler (the solver that reads them later) only when a manifest has
some, and kept in rattler's normal form (`python=3.11` -> `python 3.11.*`): one spelling,
one input hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from envbuild.manifest.locate import dotted

if TYPE_CHECKING:
    from envbuild.manifest.load import _Reader
    from envbuild.manifest.model import Index, Manifest, Target

INDEX_KINDS = ("pypi", "conda")


@dataclass(frozen=True, kw_only=True, slots=True)
class CondaSettings:
    channels: tuple[str, ...]  # [indexes] names of kind "conda", in priority order
    specs: tuple[str, ...]  # [dependencies] conda, normal form, as ordered in the manifest


def index_kind(r: _Reader, spec: dict[str, Any], key: str) -> str:
    """`kind` of an [indexes] entry: "pypi" (the default) or "conda"."""
    kind = r.string(spec, key, "kind", example='kind = "conda"') or "pypi"
    if kind not in INDEX_KINDS:
        r.problem(f"{key}.kind", f'unknown index kind "{kind}"; use one of: {", ".join(INDEX_KINDS)}')
        return "pypi"
    return kind


def match_specs(r: _Reader, data: dict[str, Any], key: str, name: str) -> tuple[str, ...]:
    """The conda match specs under `key.name`, each in rattler's normal form."""
    texts = r.strings(data, key, name)
    if not texts:
        return ()
    from rattler import MatchSpec

    out = []
    for position, text in enumerate(texts):
        where = f"{key}.{name}[{position}]"
        if "::" in text:
            r.problem(where, f'"{text}" names a channel; list channels in [conda] channels instead')
            continue
        try:
            out.append(str(MatchSpec(text.strip())))
        except Exception as error:  # rattler raises its own InvalidMatchSpecError
            r.problem(where, f'invalid conda match spec "{text}": {error}; '
                             'write it as "name", "name=1.2" or "name >=1.2 cuda*"')
    return tuple(out)


def spec_name(spec: str) -> str:
    """The package name of a match spec in normal form."""
    return spec.split(" ", 1)[0].split("[", 1)[0]


def parse_conda(r: _Reader, data: dict[str, Any], deps: dict[str, Any],
                indexes: dict[str, Index]) -> CondaSettings:
    """`[conda]` and `[dependencies] conda`, checked against the declared indexes."""
    table = r.table(data.get("conda"), "conda")
    r.unknown(table, "conda", ("channels",))
    channels = r.strings(table, "conda", "channels")
    for position, channel in enumerate(channels):
        index = indexes.get(channel)
        where = f"conda.channels[{position}]"
        if index is None:
            r.problem(where, f'unknown index "{channel}"; declare it: [indexes] {channel} = '
                             '{ url = "...", kind = "conda" }')
        elif index.kind != "conda":
            r.problem(where, f'index "{channel}" is not a conda channel; add kind = "conda" to it')
        elif channels.index(channel) < position:
            r.problem(where, f'"{channel}" is listed twice')
    return CondaSettings(channels=channels, specs=match_specs(r, deps, "dependencies", "conda"))


def check_targets(r: _Reader, settings: CondaSettings, targets: dict[str, Target],
                  indexes: dict[str, Index]) -> None:
    """What targets with conda packages need: a channel, the uv resolver, and no PyPI
    package routed to a conda channel."""
    wanting = [t for t in targets.values() if settings.specs or t.conda]
    if wanting and not settings.channels:
        where = "dependencies.conda" if settings.specs else f"{dotted('targets', wanting[0].name)}.conda"
        r.problem(where, 'conda packages need a channel; add [conda] channels = ["<index name>"] '
                         'naming an [indexes] entry with kind = "conda"')
    for target in targets.values():
        key = dotted("targets", target.name)
        for package, index in target.sources:
            if indexes[index].kind == "conda":
                r.problem(f"{key}.sources.{dotted(package)}",
                          f'"{index}" is a conda channel; conda packages come from [conda] channels')
        if target in wanting and target.resolver != "uv":
            r.problem(f"{key}.resolver", "a target with conda packages resolves its PyPI packages "
                                         'with uv; remove resolver = "pip-tools"')


def specs_for(manifest: Manifest, target: Target) -> tuple[str, ...]:
    """The target's conda specs: the shared ones, then its own."""
    return (*manifest.conda_specs, *target.conda)


def python_indexes(indexes: dict[str, Index]) -> dict[str, Index]:
    """The indexes a PyPI resolver may see: conda channels are not package indexes."""
    return {n: i for n, i in indexes.items() if i.kind != "conda"}
