"""Datasets pinned by content: digests, listings, sources, pull and verify.

Modules here never import click and never print; the CLI in `envbuild.cli.data` calls
them. Importing this package is cheap: `envbuild data hash` must start fast.
"""
