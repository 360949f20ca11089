"""The publishing engine's clock. With ``CMOPS_NOW`` or ``--at`` time is virtual: waiting
advances it instead of sleeping, so a test of "wait 10 minutes, then post on the minute"
runs in milliseconds and the receipts carry the virtual times."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        ...

    def sleep(self, seconds: float) -> None:
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class VirtualClock:
    """Starts at ``start``; only :meth:`sleep` moves it."""

    def __init__(self, start: datetime) -> None:
        self._now = start.astimezone(UTC)
        self.slept = 0.0

    def now(self) -> datetime:
        return self._now

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._now += timedelta(seconds=seconds)
            self.slept += seconds


def sleep_until(clock: Clock, instant: datetime) -> None:
    """Wait until ``instant``: never return before it (a system clock may wake early)."""
    while True:
        left = (instant - clock.now()).total_seconds()
        if left <= 0:
            return
        clock.sleep(left)
