"""Hypothesis properties of listings and digests."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from envbuild.data.digest import FileEntry
from envbuild.data.filters import make_filter
from envbuild.data.hashing import hash_local
from envbuild.data.listing import Listing, dump_listing, merge_listings, parse_listing
from tests.data.helpers import make_tree

segment = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"),
    min_size=1,
    max_size=8,
).filter(lambda s: s not in (".", ".."))
paths = st.lists(segment, min_size=1, max_size=3).map("/".join)
entries = st.dictionaries(
    paths,
    st.tuples(st.integers(0, 2**40), st.binary(min_size=32, max_size=32).map(bytes.hex)),
    max_size=20,
)


def _listing(raw: dict[str, tuple[int, str]], hints: bool = False) -> Listing:
    items = [
        FileEntry(path=p, size=s, hash=h, hint=f"etag-{s}" if hints else None) for p, (s, h) in sorted(raw.items())
    ]
    return Listing(algorithm="blake3", entries=tuple(items))


@given(entries, st.booleans())
def test_listing_round_trip(raw: dict[str, tuple[int, str]], hints: bool) -> None:
    listing = _listing(raw, hints)
    data = dump_listing(listing)
    assert parse_listing(data, where="x") == listing
    assert dump_listing(parse_listing(data, where="x")) == data


@given(entries, st.randoms())
def test_digest_independent_of_order(raw: dict[str, tuple[int, str]], rnd) -> None:  # type: ignore[no-untyped-def]
    listing = _listing(raw)
    shuffled = list(listing.entries)
    rnd.shuffle(shuffled)
    assert Listing(algorithm="blake3", entries=tuple(shuffled)).digest() == listing.digest()


files = st.dictionaries(
    st.lists(st.sampled_from(["a", "b", "c", "dé", "e f"]), min_size=1, max_size=3).map("/".join),
    st.binary(max_size=64),
    min_size=1,
    max_size=12,
)


@settings(max_examples=30, deadline=None)
@given(files, st.integers(1, 6))
def test_shards_merge_to_the_whole_digest(tree: dict[str, bytes], count: int) -> None:
    # Skip trees where a file and a folder would share a name.
    names = set(tree)
    if any(other.startswith(name + "/") for name in names for other in names):
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = make_tree(Path(tmp), tree)
        keep = make_filter([])
        whole = hash_local(root, algorithm="blake3", include=keep)
        shards = [(str(i), hash_local(root, algorithm="blake3", include=keep, shard=(i, count))) for i in range(count)]
        assert merge_listings(reversed(shards)).digest() == whole.digest()
