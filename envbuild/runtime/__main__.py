"""`python -m envbuild.runtime verify|run|probe` (a bundle has its own root `__main__`)."""

from __future__ import annotations

import sys

from .main import main

sys.exit(main())
