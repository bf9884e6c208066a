"""Time, injected: every wait of the client (30 s after a 429, render polls, disconnect
recovery) and every cadence (the "still working" notice, the 10-minute heartbeat timeout, token
expiry) reads `Clock.now()` and waits with `Clock.sleep()`, so a test can run them in no time."""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "ScaledClock", "SystemClock"]


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the Unix epoch."""

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""


class SystemClock:
    """The wall clock."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class ScaledClock:
    """Wall time sped up ``scale`` times (``NEMO_TIME_SCALE``): a 30 s wait takes 30/scale s.

    For running against a mock whose clock is scaled by the same factor (``nemo-mock serve
    --clock scaled:N``), so every documented wait keeps its meaning in the mock's time.
    """

    def __init__(self, scale: float) -> None:
        if scale <= 0:
            raise ValueError(f"time scale must be positive, got {scale}")
        self.scale = scale
        self._start = time.time()
        self._mono = time.monotonic()

    def now(self) -> float:
        return self._start + (time.monotonic() - self._mono) * self.scale

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.scale)
