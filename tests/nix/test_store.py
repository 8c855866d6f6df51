"""`envbuild.nix.store`: a fixed-output path computed as Nix computes it."""

from __future__ import annotations

import hashlib
import subprocess

from envbuild.nix.store import fixed_output_path
from tests.nix.conftest import needs_nix


@needs_nix
def test_the_path_is_the_one_nix_prints() -> None:
    for name, data in (("alpha-1.0-py3-none-any.whl", b"alpha"), ("x", b""),
                       ("numpy-2.0.0-cp311-cp311-manylinux_2_17_x86_64.whl", b"\0" * 999)):
        hex_digest = hashlib.sha256(data).hexdigest()
        printed = subprocess.run(["nix-store", "--print-fixed-path", "sha256", hex_digest, name],
                                 capture_output=True, text=True, check=True).stdout.strip()
        assert fixed_output_path(name, hex_digest, "/nix/store") == printed
