"""Prefix placeholders replaced as conda replaces them."""

from __future__ import annotations

import pytest

from envbuild.image.conda.prefix import PrefixTooLong, replace_prefix

OLD = "/opt/anaconda1anaconda2anaconda3"


def test_text_mode_replaces_every_occurrence_and_changes_the_length() -> None:
    data = f"#!{OLD}/bin/python3.11\nsys.path = ['{OLD}/lib']\n".encode()
    assert replace_prefix(data, OLD, "/opt/conda", "text", where="x") == \
        b"#!/opt/conda/bin/python3.11\nsys.path = ['/opt/conda/lib']\n"


def test_binary_mode_keeps_each_string_length_padding_with_nuls() -> None:
    data = b"\x7fELF\0" + f"{OLD}/lib:{OLD}/lib64".encode() + b"\0tail " + OLD.encode()
    out = replace_prefix(data, OLD, "/opt/conda", "binary", where="x")
    pad = b"\0" * (2 * (len(OLD) - len("/opt/conda")))
    # The NUL-terminated string is rewritten and padded; the unterminated tail is left alone
    # (conda matches strings up to their NUL only).
    assert out == b"\x7fELF\0/opt/conda/lib:/opt/conda/lib64\0" + pad + b"tail " + OLD.encode()
    assert len(out) == len(data)


def test_binary_mode_refuses_a_prefix_longer_than_the_placeholder() -> None:
    with pytest.raises(PrefixTooLong) as caught:
        replace_prefix(b"/short/lib\0", "/short", "/opt/conda", "binary", where="demo: lib/x.so")
    assert caught.value.message == ("demo: lib/x.so: the prefix /opt/conda is longer than the "
                                    "6-byte placeholder the binary file holds")
    assert caught.value.exit_code == 2
