"""`exclude-newer` for conda channels, applied by envbuild rather than by rattler.

rattler's own `exclude_newer` prefers a record's `indexed_timestamp` (when the channel's
index took the file in) over its build `timestamp`: a mirror or a local channel indexed
after the cutoff would lose every package. The cutoff is about when a package was built,
so records are filtered on `timestamp` here, per channel: a channel whose index sets
`exclude-newer-exempt = true` is given to the solver as it is. A record without a
timestamp is kept (it cannot be judged; rattler's "allow-missing" did the same).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rattler import Gateway, PackageName, RepoDataRecord, Subdir


def parse_cutoff(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(kw_only=True)
class CutoffChannel:
    """A channel as a rattler `RepoDataSource` without the records built after `cutoff`;
    `dropped` collects what it left out, for the error's hint."""

    gateway: Gateway
    channel: Any  # rattler.Channel
    cutoff: datetime
    names: dict[str, list[str]]  # subdir -> package names, read before the solve
    dropped: set[str] = field(default_factory=set)

    async def fetch_package_records(self, platform: Subdir, name: PackageName) -> list[RepoDataRecord]:
        result = await self.gateway.query([self.channel], [platform], [name.normalized], recursive=False)
        records = [record for group in result for record in group]
        kept = []
        for record in records:
            if record.timestamp is None or record.timestamp <= self.cutoff:
                kept.append(record)
            else:
                self.dropped.add(f"{record.name.normalized} {record.version} {record.build}")
        return kept

    def package_names(self, platform: Subdir) -> list[str]:
        return self.names.get(str(platform), [])


async def sources(gateway: Gateway, channels: list[Any], exempt: list[bool], platforms: list[Any],
                  cutoff: datetime | None) -> list[Any]:
    """The solver's sources, in priority order: each channel as it is when there is no
    cutoff or its index is exempt, else through a CutoffChannel."""
    out: list[Any] = []
    for channel, is_exempt in zip(channels, exempt, strict=True):
        if cutoff is None or is_exempt:
            out.append(channel)
            continue
        names = {str(p): [n.normalized for n in (await gateway.names([channel], [p])).names]
                 for p in platforms}
        out.append(CutoffChannel(gateway=gateway, channel=channel, cutoff=cutoff, names=names))
    return out


def dropped(sources: list[Any]) -> list[str]:
    """Every record a cutoff left out, sorted."""
    return sorted({d for s in sources if isinstance(s, CutoffChannel) for d in s.dropped})
