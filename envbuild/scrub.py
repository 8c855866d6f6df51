"""Make untrusted text safe for a message, a lock or an export.

- `scrub` removes credentials from URLs: the user information (`user:password@`, a bare
  `token@`, percent-encoded forms alike) and the query string, where tokens also travel
  (`?token=...`, signed URLs), masking each (`***@`, `?***`) for messages;
  `without_credentials` removes both from one URL that is written where it must still work
  (an export's `--index-url`).
- `escape` makes control and bidirectional-override characters visible, so a value read
  from a manifest, lock or listing cannot rewrite the terminal or reorder a message.
"""

from __future__ import annotations

import re
import urllib.parse

# One definition, shared with the portable runtime that images carry.
from envbuild.runtime.safetext import escape

# A URL's authority runs to the first `/`, `?` or `#`; its user information to the last
# `@` in it, so a password with a raw `@` is masked whole. Whitespace, `"`, `<`, `>` and
# a backtick end a URL in running text (JSON escapes `"` inside strings, so a document
# keeps its quotes); quotes and brackets that RFC 3986 allows stay part of the secret.
_URL = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)"
    r"(?:(?P<userinfo>[^/?#\s\"<>`]*)@)?"
    r"(?P<rest>[^?#\s\"<>`]*)"
    r"(?P<query>\?[^#\s\"<>`]*)?")
# urllib3 (inside pip) names the request without its host: "Max retries exceeded with
# url: /simple/x/?token=...".
_BARE_QUERY = re.compile(r"(?P<lead>with url: [^?\s]*)(?P<query>\?[^#\s\"<>`]*)")
# A query's last character when it is punctuation of the sentence around the URL: kept,
# at the cost of masking one character less of a secret that ends in one.
_TRAILING = ").,;:]}'"


def scrub(text: str) -> str:
    """Every URL in `text` with its user information as `***@` and its query as `?***`.

    Fragments (`#sha256=...`) are kept: indexes put file hashes there, never secrets."""
    return _BARE_QUERY.sub(_mask_query, _URL.sub(_mask, text))


def without_credentials(url: str) -> str:
    """`url` with its user information and query string removed (not masked): a URL that
    still works where the credentials come from elsewhere (netrc, a keyring)."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", parts.fragment))


def _mask(match: re.Match[str]) -> str:
    out = match.group("scheme")
    if match.group("userinfo") is not None:
        out += "***@"
    out += match.group("rest")
    return out + _masked_query(match.group("query"))


def _mask_query(match: re.Match[str]) -> str:
    return match.group("lead") + _masked_query(match.group("query"))


def _masked_query(query: str | None) -> str:
    if not query or query == "?":
        return query or ""
    return "?***" + (query[-1] if len(query) > 2 and query[-1] in _TRAILING else "")


__all__ = ["escape", "scrub", "without_credentials"]
