"""The emitter's fast path for plain strings writes exactly what json.dumps writes."""

from __future__ import annotations

import json
import tomllib

from hypothesis import given
from hypothesis import strategies as st

from envbuild.lockfile.tomlemit import _scalar, dumps


@given(st.text(alphabet=st.characters(max_codepoint=0x2FF), max_size=40))
def test_every_string_is_written_as_json_quotes_it(value: str) -> None:
    assert _scalar(value) == json.dumps(value, ensure_ascii=False)


@given(st.dictionaries(st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True),
                       st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E),
                               max_size=30), max_size=6))
def test_plain_strings_read_back_as_written(table: dict[str, str]) -> None:
    assert tomllib.loads(dumps({"t": table})) == {"t": table}
