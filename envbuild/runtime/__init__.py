"""Checking an environment against one target of the lock, and running under that check.

Two halves live here:

- The *portable* modules (`PORTABLE` below) import nothing but the Python standard library
  and import each other only relatively. `bundle.write_zipapp` packs them (with `pynvml`
  when it is importable) into one zip application that an image's own Python runs at a
  fixed path, and that `envbuild verify --python PATH` runs inside another interpreter.
- `hosted` is the envbuild side: it reads the lock through `envbuild.lockfile`, checks
  datasets through `envbuild.data`, and hands the portable core a target table.

Both halves feed the same target table to the same `verifier.verify`, so they give the
same verdicts on the same environment.
"""

PORTABLE = (
    "__init__", "__main__", "bundle", "conda", "determinism", "dpkgstatus", "environment", "gpus", "hardware",
    "main", "nvml", "platformcheck", "proof", "record", "runner", "safetext", "target", "verdict",
    "verifier", "versions",
)
