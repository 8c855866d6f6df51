"""Conda packages of a target (issue 12): solved with rattler from the manifest's channels,
recorded by channel name, exported as conda-lock and `@EXPLICIT` files."""
