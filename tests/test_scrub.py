"""`scrub`: no URL keeps its user information or query string, in any form."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envbuild.scrub import scrub, without_credentials


@pytest.mark.parametrize(("text", "scrubbed"), [
    ("https://user:pass@example.org/simple", "https://***@example.org/simple"),
    ("https://ghp_token@example.org/simple", "https://***@example.org/simple"),
    ("https://user%3Apass@example.org/simple", "https://***@example.org/simple"),
    ("https://user:p@ss@example.org/simple", "https://***@example.org/simple"),
    ("https://example.org/simple?token=abc&x=1", "https://example.org/simple?***"),
    ("hint: An index URL (http://127.0.0.1:8080/simple?token=abc) could not be queried",
     "hint: An index URL (http://127.0.0.1:8080/simple?***) could not be queried"),
    ("'https://a:b@h/x?sig=1' and https://h/y", "'https://***@h/x?***' and https://h/y"),
    ("https://h/f.whl#sha256=00ff", "https://h/f.whl#sha256=00ff"),
    ("https://h/f.whl?sig=1#sha256=00ff", "https://h/f.whl?***#sha256=00ff"),
    ("mail user@example.org at https://h/x", "mail user@example.org at https://h/x"),
    ("https://h/path@version", "https://h/path@version"),
    ("Max retries exceeded with url: /simple/x/?token=abc (Caused by",
     "Max retries exceeded with url: /simple/x/?*** (Caused by"),
    ('{"url": "https://h/s?t=1", "n": 1}', '{"url": "https://h/s?***", "n": 1}'),
])
def test_scrub(text: str, scrubbed: str) -> None:
    assert scrub(text) == scrubbed


_SECRET = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%!$&'*+,;=:@",
                  min_size=6, max_size=40).filter(lambda s: any(c.isalnum() for c in s))


@given(secret=_SECRET, before=st.sampled_from(["", "see ", "(", "'", '"', "url="]),
       after=st.sampled_from(["", ")", " next", "'", '"', ".", "\n"]))
def test_a_secret_in_userinfo_or_query_never_survives(secret: str, before: str, after: str) -> None:
    # A secret of letters with at least one alphanumeric run of 6: any such run surviving
    # would be a leak (shorter runs may be the host or path).
    marker = "Zq9" + secret.replace("@", "") + "Xw7"
    for url in (f"https://{marker}@h.example/simple", f"https://u:{marker}@h.example/simple",
                f"https://h.example/simple?token={marker}"):
        out = scrub(f"{before}{url}{after}")
        assert "Zq9" not in out and "Xw7" not in out, out


@pytest.mark.parametrize(("url", "plain"), [
    ("https://user:pass@example.org/simple?token=abc", "https://example.org/simple"),
    ("https://tok@example.org:8443/simple/", "https://example.org:8443/simple/"),
    ("https://u%3Ap@example.org/simple#frag", "https://example.org/simple#frag"),
    ("https://example.org/simple", "https://example.org/simple"),
])
def test_without_credentials(url: str, plain: str) -> None:
    assert without_credentials(url) == plain
