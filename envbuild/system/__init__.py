"""Debian system packages (issue 11): the archive, its verified indexes, and the closure of
a target's requested packages. `envbuild.system.lock.lock_system` is what `envbuild lock` calls."""
