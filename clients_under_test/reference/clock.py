"""Time, injected: every wait of the client (30 s after a 429, render polls, disconnect
recovery) and every cadence (the "still working" notice, the 10-minute heartbeat timeout, token
expiry) reads `Clock.now()` and waits with `Clock.sleep()`, so a test can run them in no time."""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "MockSleepClock", "ScaledClock", "SystemClock"]


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


class MockSleepClock(ScaledClock):
    """A `ScaledClock` whose sleeps are taken on the mock's clock (``NEMO_MOCK_SLEEP_URL``, set
    by `nemo-contract client` for a manifest with ``time: mock``): each is a ``POST {"seconds":
    S}`` the mock answers when its own clock has moved S seconds on. The suite then knows where
    every wait lies in virtual time, and judges the client's timing exactly."""

    def __init__(self, scale: float, url: str, admin_token: str | None = None) -> None:
        super().__init__(scale)
        self.url = url
        # a shared mock started with an admin token answers its control API only with it
        self.headers = {"X-Mock-Admin-Token": admin_token} if admin_token else {}

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        import httpx  # the client's own dependency; only this clock needs it here

        try:
            answer = httpx.post(
                self.url, json={"seconds": seconds}, headers=self.headers, timeout=None
            )
            answer.raise_for_status()
        except httpx.HTTPError as exc:
            raise RuntimeError(
                f"could not sleep {seconds:g} s on the mock's clock at {self.url} ({exc}); "
                "unset NEMO_MOCK_SLEEP_URL to sleep on this machine's clock"
            ) from None
