"""Nix: a locked target as a Nix expression (`export.py`), built by `nix-build` (`run.py`).

`syntax.py` is the one place a value becomes Nix text; `unpack.py` is the stdlib-only
builder of the `site` attribute, shipped beside the expression.
"""
