"""A throttled progress reporter: the core says how far it is, the CLI decides where."""

from __future__ import annotations

import time
from collections.abc import Callable


class Ticker:
    """Calls `report` with a line at most every `interval` seconds, and once at the end."""

    def __init__(self, report: Callable[[str], None], label: str, total: int, unit: str) -> None:
        self._report = report
        self._label = label
        self._total = total
        self._unit = unit
        self._done = 0
        self._next = time.monotonic() + 0.5

    def advance(self, amount: int = 1) -> None:
        self._done += amount
        if time.monotonic() >= self._next:
            self._next = time.monotonic() + 0.5
            self._emit()

    def finish(self) -> None:
        self._done = self._total
        self._emit()

    def _emit(self) -> None:
        self._report(f"{self._label}: {self._done}/{self._total} {self._unit}")


def silent(_: str) -> None:
    """A progress sink that drops every line."""
