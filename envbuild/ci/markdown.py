"""Markdown for a pull-request comment: a lock diff and, when known, the image plan.

Long lists fold into `<details>` so a large upgrade stays one screen in the review; every
value from a lock is escaped (control and bidi characters) and put in code spans.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from envbuild.scrub import escape

if TYPE_CHECKING:
    from envbuild.ci.plan import Plan
    from envbuild.lockdiff import FieldChange, LockDiff, TargetDiff

FOLD_AFTER = 8  # lists longer than this fold
# A target's own values that change what is built, beyond its packages.
_SETTINGS = frozenset({"platform", "python", "glibc", "cuda", "gpus", "resolver"})


def _code(value: Any) -> str:
    if value is None:
        return "(absent)"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return "`" + escape(text).replace("`", "'") + "`"


def _short(digest: str | None) -> str:
    return _code(digest[:19] if digest else None)  # "sha256:" and 12 hex


def _items(title: str, lines: list[str]) -> list[str]:
    """A titled bullet list, folded into <details> when long."""
    if not lines:
        return []
    bullets = [f"- {line}" for line in lines]
    if len(lines) <= FOLD_AFTER:
        return [f"**{title}** ({len(lines)})", "", *bullets, ""]
    return [f"<details><summary>{title} ({len(lines)})</summary>", "", *bullets, "", "</details>", ""]


def render_diff(result: LockDiff, plan: Plan | None, *, base_label: str) -> str:
    """The whole comment: proof warnings, the image plan, then one section per target."""
    out = [f"## envbuild: lock changes against {base_label}", "", *_proof(result)]
    if plan is not None:
        out += render_plan_table(plan)
    if not result.differs:
        rebuilt = plan is not None and plan.rebuilt
        out += ["The locks are identical" + ("; the images rebuilt change through their other "
                                             "inputs (see the notes)." if rebuilt else "."), ""]
    for change in result.lock_fields:
        out.append(f"- lock `{escape(change.path)}`: {_code(change.old)} -> {_code(change.new)}")
    if result.lock_fields:
        out.append("")
    for d in result.targets:
        if d.status != "same":
            out += _target(d)
    if result.datasets:
        out += ["### Datasets", "", "| dataset | change | digest |", "| --- | --- | --- |"]
        out += [f"| {_code(ds.name)} | {ds.status} | {_short(ds.old)} -> {_short(ds.new)} |"
                for ds in result.datasets] + [""]
    return "\n".join(out).rstrip("\n") + "\n"


def _proof(result: LockDiff) -> list[str]:
    """First of all: a side whose content does not match its own hashes."""
    out: list[str] = []
    for side, examined in (("base", result.old), ("working", result.new)):
        if examined.failures:
            out += [f"> **Warning:** the {side} lock does not prove (its content does not match "
                    "its hashes); its hashes are not trusted.", ">"]
            out += [f"> - {escape(f)}" for f in examined.failures] + [""]
    return out


def render_plan_table(plan: Plan) -> list[str]:
    """The image plan: one row per target, and the targets whose images are rebuilt."""
    out = [f"Base: {_code(plan.base.ref)} ({_code(plan.base.commit[:12])})"
           + ("" if plan.base_lock_found else ", which has no lock: every target is new"), "",
           "| target | image | by | old | new |", "| --- | --- | --- | --- | --- |"]
    for t in plan.targets:
        basis = "no image, target" if t.basis == "none" else t.basis
        out.append(f"| {_code(t.name)} | {t.status} | {basis} hash | {_short(t.old)} | {_short(t.new)} |")
    out.append("")
    rebuilt = plan.rebuilt
    out.append("**Images rebuilt:** " + (", ".join(_code(n) for n in rebuilt) if rebuilt else "none"))
    out.append("")
    notes = [f"{_code(t.name)}: {escape(t.note)}" for t in plan.targets if t.note]
    return out + _items("Notes", notes)


def render_plan(plan: Plan) -> str:
    """`ci plan --format markdown`: the table, then the diff of each rebuilt target."""
    out = ["## envbuild: image plan", "", *_proof(plan.diff), *render_plan_table(plan)]
    for t in plan.targets:
        d = plan.target_diff(t.name)
        if t.status != "unchanged" and d is not None and d.status != "same":
            out += _target(d)
    return "\n".join(out).rstrip("\n") + "\n"


def _target(d: TargetDiff) -> list[str]:
    out = [f"### Target {_code(d.name)}: {d.status}", ""]
    out += _items("Added", [_code(p) for p in d.added])
    out += _items("Removed", [_code(p) for p in d.removed])
    out += _items("Changed", [f"{_code(n)} {_code(o)} -> {_code(w)}" for n, o, w in d.changed])
    out += _items("Same version, new file or hash", [_code(n) for n in d.rehashed])
    out += _items("Hashes", [_change(c) for c in d.fields if c.path in ("hash", "input-hash")])
    out += _items("Driver floor", [_change(c) for c in d.fields if c.path == "driver-floor"])
    out += _items("Hardware rows", [_row(c) for c in d.fields if c.path.startswith("hardware.")])
    out += _items("Base image", [_change(c) for c in d.fields if c.path.startswith("base")])
    out += _items("Requirements", [_change(c) for c in d.fields if c.path == "requirements"])
    out += _items("Target settings", [_change(c) for c in d.fields if c.path in _SETTINGS])
    from envbuild.lockdiff import conda_lines, system_lines

    out += _items("Conda packages", [_code(line) for line in conda_lines(d.fields)])
    out += _items("Conda requirements and channels",
                  [_change(c) for c in d.fields if c.path in ("conda-requirements", "conda-channels")])
    out += _items("System packages", [_code(line.strip()) for line in system_lines(d.fields)])
    out += _items("System settings", [_change(c) for c in d.fields if c.path.startswith("system-")])
    return out


def _row(c: FieldChange) -> str:
    """A hardware row by its id: a whole row added or removed is one line, not its table."""
    where = c.path.removeprefix("hardware.")
    if c.old is None or c.new is None:
        return f"{_code(where)} {'added' if c.old is None else 'removed'}"
    return f"{_code(where)}: {_code(c.old)} -> {_code(c.new)}"


def _change(c: FieldChange) -> str:
    return f"`{escape(c.path)}`: {_code(c.old)} -> {_code(c.new)}"
