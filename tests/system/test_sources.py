"""The default archive is the one apt uses: one-line and deb822 sources, in apt's order."""

from __future__ import annotations

from pathlib import Path

import pytest

from envbuild.errors import InputError
from envbuild.system.sources import default_archive


def etc(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def test_deb822_sources_with_several_suites(tmp_path: Path) -> None:
    folder = etc(tmp_path, {"sources.list.d/debian.sources": (
        "Types: deb-src\nURIs: http://src.invalid/debian\nSuites: bookworm\nComponents: main\n\n"
        "# a comment\nTypes: deb\nURIs: http://mirror.invalid/debian/\nSuites: bookworm bookworm-updates\n"
        "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        "Types: deb\nURIs: http://mirror.invalid/debian-security\nSuites: bookworm-security\n"),
        "sources.list.d/other.list.disabled": "deb http://disabled.invalid/debian bookworm main\n"})
    assert default_archive("bookworm", etc=folder) == "http://mirror.invalid/debian"
    assert default_archive("bookworm-security", etc=folder) == "http://mirror.invalid/debian-security"


def test_one_line_sources_with_options_come_first(tmp_path: Path) -> None:
    folder = etc(tmp_path, {
        "sources.list": "# deb http://commented.invalid/debian bookworm main\n"
                        "deb [arch=amd64 signed-by=/k.gpg] http://first.invalid/debian bookworm main\n",
        "sources.list.d/debian.sources": "Types: deb\nURIs: http://second.invalid/debian\nSuites: bookworm\n"})
    assert default_archive("bookworm", etc=folder) == "http://first.invalid/debian"


def test_no_source_for_the_codename(tmp_path: Path) -> None:
    folder = etc(tmp_path, {"sources.list": "deb http://mirror.invalid/debian trixie main\n"})
    with pytest.raises(InputError) as refused:
        default_archive("bookworm", etc=folder)
    assert refused.value.message == (f"no apt source on this machine serves bookworm ({folder}/sources.list, "
                                     f"{folder}/sources.list.d)")
    assert refused.value.hint == 'name the archive: [system] archive = "<archive URL>"'


def test_a_misspelt_codename_no_source_serves_is_named_as_such(tmp_path: Path) -> None:
    folder = etc(tmp_path, {"sources.list": "deb http://mirror.invalid/debian bookworm main\n"})
    with pytest.raises(InputError) as caught:
        default_archive("bookwrom", etc=folder)
    assert caught.value.message == '[system] distribution: "bookwrom" is not a Debian codename; did you mean bookworm?'
    # A known codename that no source serves is the archive's to name.
    with pytest.raises(InputError) as other:
        default_archive("trixie", etc=folder)
    assert other.value.message.startswith("no apt source on this machine serves trixie")
