"""What a verification found: mismatches (kind, package, detail), notes and host facts."""

from __future__ import annotations

from dataclasses import dataclass, field

TYPE_CHECKING = False  # typing itself is not imported: start-up time
if TYPE_CHECKING:
    from typing import Any

# The order mismatches are listed in: the lock first, then the interpreter and its platform,
# the packages (and the wheels they came from), their files, the hardware and the data.
KINDS = (
    "lock-hash", "target-hash", "python", "platform", "glibc", "missing", "version",
    "unlocked", "wheel-tag", "conda-missing", "conda-version", "conda-unlocked",
    "system-missing", "system-version", "system-unlocked", "file-missing",
    "file-modified", "no-gpu", "gpu-model", "compute-capability", "driver", "dataset",
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Mismatch:
    """One difference between the environment and the target."""

    kind: str  # one of KINDS
    package: str | None  # the normalised distribution name, when the mismatch is about one
    detail: str

    def render(self) -> str:
        return f"{self.kind}: {self.package}: {self.detail}" if self.package \
            else f"{self.kind}: {self.detail}"

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "package": self.package, "detail": self.detail}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Mismatch:
        return cls(kind=str(data["kind"]), package=data.get("package"), detail=str(data["detail"]))


def sort_mismatches(mismatches: list[Mismatch]) -> tuple[Mismatch, ...]:
    def key(m: Mismatch) -> tuple[int, str, str]:
        rank = KINDS.index(m.kind) if m.kind in KINDS else len(KINDS)
        return rank, m.package or "", m.detail
    return tuple(sorted(set(mismatches), key=key))


@dataclass(frozen=True, kw_only=True, slots=True)
class Verdict:
    """The outcome of checking one environment against one target."""

    target: str
    target_hash: str
    lock_hash: str | None
    mismatches: tuple[Mismatch, ...]
    notes: tuple[str, ...] = ()
    facts: dict[str, Any] = field(default_factory=dict)  # python, executable, host GPUs

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def with_extra(self, mismatches: list[Mismatch], notes: list[str]) -> Verdict:
        """This verdict with more mismatches and notes (datasets, checked by envbuild)."""
        return Verdict(target=self.target, target_hash=self.target_hash, lock_hash=self.lock_hash,
                       mismatches=sort_mismatches([*self.mismatches, *mismatches]),
                       notes=(*self.notes, *notes), facts=self.facts)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "target": self.target, "target_hash": self.target_hash,
            "lock_hash": self.lock_hash, "mismatches": [m.as_json() for m in self.mismatches],
            "notes": list(self.notes), "facts": self.facts,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Verdict:
        return cls(target=str(data["target"]), target_hash=str(data["target_hash"]),
                   lock_hash=data.get("lock_hash"),
                   mismatches=tuple(Mismatch.from_json(m) for m in data["mismatches"]),
                   notes=tuple(str(n) for n in data.get("notes", [])),
                   facts=dict(data.get("facts", {})))

    def render(self) -> str:
        """Every mismatch on its own line under a one-line summary (for standard error)."""
        count = len(self.mismatches)
        if not count:
            return f"verified: target {self.target} ({self.target_hash})"
        head = f"target {self.target}: {count} mismatch{'es' if count != 1 else ''}"
        return "\n".join([head, *(f"  {m.render()}" for m in self.mismatches)])
