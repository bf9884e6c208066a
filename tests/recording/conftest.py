"""The recording tests' shared recording (see `servers`)."""

from __future__ import annotations

from .servers import recorded

__all__ = ["recorded"]
