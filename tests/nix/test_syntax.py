"""Values become Nix text only through `envbuild.nix.syntax`; checked against Nix itself."""

from __future__ import annotations

import hashlib
import json
import subprocess

import pytest

from envbuild.errors import InputError
from envbuild.nix.syntax import sri, store_name, string
from tests.nix.conftest import needs_nix

HOSTILE = ['plain', '"', '\\', '${builtins.abort "x"}', '$${x}', "''${x}", '\\${x}', '$',
           'a\nb\tc\rd', 'ünïcode ✓', '"; builtins.abort "x"; "', '#', '/* x */']


@needs_nix
def test_every_string_evaluates_to_itself_in_nix() -> None:
    expression = "[ " + " ".join(string(v) for v in HOSTILE) + " ]"
    done = subprocess.run(["nix-instantiate", "--eval", "--strict", "--json", "--expr",
                           expression], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == HOSTILE


def test_a_control_character_is_refused() -> None:
    with pytest.raises(InputError) as caught:
        string("a\x1bb")
    assert caught.value.message == ('"a\\x1bb" holds a control character and cannot be '
                                    "written into a Nix expression")


@needs_nix
def test_sri_is_what_nix_computes() -> None:
    hex_ = hashlib.sha256(b"wheel bytes").hexdigest()
    done = subprocess.run(["nix", "--experimental-features", "nix-command", "hash", "to-sri",
                           "--type", "sha256", hex_], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert sri(f"sha256:{hex_}", what="w") == done.stdout.strip()


def test_a_hash_nix_cannot_use_is_refused() -> None:
    with pytest.raises(InputError) as caught:
        sri("md5:0123", what="alpha: alpha-1.0-py3-none-any.whl")
    assert caught.value.message == ('alpha: alpha-1.0-py3-none-any.whl: hash "md5:0123" is not '
                                    "sha256:<64 hex digits>")


@pytest.mark.parametrize(("name", "expected"), [
    ("alpha-1.0-py3-none-any.whl", "alpha-1.0-py3-none-any.whl"),
    ("pkg-1!2.0-py3-none-any.whl", "pkg-1_2.0-py3-none-any.whl"),
    (".hidden", "_.hidden"),
])
def test_store_names_keep_what_nix_allows(name: str, expected: str) -> None:
    assert store_name(name) == expected
