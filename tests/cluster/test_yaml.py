"""The YAML writer: what PyYAML reads back is what was written, for any plain data."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envbuild.cluster import yamlemit

yaml = pytest.importorskip("yaml", reason="PyYAML reads the output back")

keys = st.text(min_size=1, max_size=12)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40),
                    st.text(max_size=30))
plain = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4).filter(lambda xs: not any(isinstance(x, list) and x for x in xs)),
    st.dictionaries(keys, inner, max_size=4)), max_leaves=20)


@given(st.dictionaries(keys, plain, min_size=1, max_size=5))
def test_round_trip(document: dict[str, Any]) -> None:
    assert yaml.safe_load(yamlemit.dump(document)) == document


@pytest.mark.parametrize("text", ["true", "no", "On", "null", "~", "1.0", "0x1F", "1e3", "12:30",
                                  "-", "- a", "a: b", "#x", "@x", "", " lead", "x\n", "a\nb\n", "A\n"])
def test_strings_that_look_like_something_else_stay_strings(text: str) -> None:
    assert yaml.safe_load(yamlemit.dump({"k": text})) == {"k": text}


def test_a_key_ending_in_a_line_break_is_quoted() -> None:
    # Found by test_round_trip: a pattern's `$` also matches before a final line break.
    assert yamlemit.dump({"A\n": None}) == '"A\\x0a": null\n'
    assert yaml.safe_load(yamlemit.dump({"A\n": None})) == {"A\n": None}


def test_layout_is_kubernetes_style() -> None:
    assert yamlemit.dump({"a": {"b": [{"c": 1, "d": "x"}, "e"], "f": {}}, "g": []}) == (
        "a:\n  b:\n  - c: 1\n    d: x\n  - e\n  f: {}\ng: []\n")
