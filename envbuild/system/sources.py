"""The archive apt uses on this machine: the default `[system] archive`.

Read from apt's own sources, one-line `*.list` files and deb822 `*.sources` files, in the
order apt reads them (sources.list, then sources.list.d sorted). The URL is only ever used
to fetch: it never enters the lock or a hash.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from envbuild.errors import InputError

APT_ETC = Path("/etc/apt")
# Debian's codenames, for telling a misspelt one from a release envbuild has not heard of:
# an unknown codename is still locked wherever an archive serves it.
CODENAMES = ("buster", "bullseye", "bookworm", "trixie", "forky", "duke", "sid", "experimental")


def default_archive(codename: str, *, etc: Path = APT_ETC) -> str:
    """The URL of the first `deb` source serving suite `codename`; InputError when none does."""
    for url, suites in _sources(etc):
        if codename in suites:
            return url.rstrip("/")
    unknown = unknown_codename(codename)
    if unknown is not None:
        raise unknown
    raise InputError(f"no apt source on this machine serves {codename} ({etc}/sources.list, "
                     f"{etc}/sources.list.d)",
                     hint='name the archive: [system] archive = "<archive URL>"')


def _sources(etc: Path) -> list[tuple[str, tuple[str, ...]]]:
    files = [etc / "sources.list"]
    folder = etc / "sources.list.d"
    if folder.is_dir():
        files += sorted(p for p in folder.iterdir() if p.suffix in (".list", ".sources"))
    out: list[tuple[str, tuple[str, ...]]] = []
    for file in files:
        try:
            text = file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue  # an absent or unreadable file is one apt would skip too
        out += _deb822(text) if file.suffix == ".sources" else _one_line(text)
    return out


def _one_line(text: str) -> list[tuple[str, tuple[str, ...]]]:
    out: list[tuple[str, tuple[str, ...]]] = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if words[:1] != ["deb"]:
            continue
        words = words[1:]
        if words and words[0].startswith("["):  # options: [arch=amd64 signed-by=...]
            while words and not words[0].endswith("]"):
                words.pop(0)
            words = words[1:]
        if len(words) >= 2:
            out.append((words[0], (words[1],)))
    return out


def _deb822(text: str) -> list[tuple[str, tuple[str, ...]]]:
    out: list[tuple[str, tuple[str, ...]]] = []
    for stanza in _stanzas(text):
        if "deb" not in stanza.get("types", "").split() or stanza.get("enabled", "yes") == "no":
            continue
        for url in stanza.get("uris", "").split():
            out.append((url, tuple(stanza.get("suites", "").split())))
    return out


def _stanzas(text: str) -> list[dict[str, str]]:
    stanzas: list[dict[str, str]] = [{}]
    key = ""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if not line.strip():
            if stanzas[-1]:
                stanzas.append({})
            continue
        if line[0] in " \t" and key:
            stanzas[-1][key] += " " + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            stanzas[-1][key] = value.strip()
    return [s for s in stanzas if s]


def unknown_codename(codename: str) -> InputError | None:
    """The error for a codename that is no Debian release envbuild knows (suites such as
    `bookworm-updates` count as their release), with the close known ones; None for a known one."""
    if codename.split("-", 1)[0] in CODENAMES:
        return None
    close = difflib.get_close_matches(codename, CODENAMES, n=3, cutoff=0.6)
    guess = f"; did you mean {' or '.join(close)}?" if close else ""
    return InputError(f'[system] distribution: "{codename}" is not a Debian codename{guess}',
                      hint=f"known codenames: {', '.join(CODENAMES)}; "
                           'write distribution = "debian:<codename>"')
