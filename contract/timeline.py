"""The report's per-scenario timeline: drawn by `mock_backend.control.timeline_svg`, which the
mock's console shares (the mock may not import the suite, so the picture lives beside the
journal it draws)."""

from __future__ import annotations

from mock_backend.control.timeline_svg import timeline_svg

__all__ = ["timeline_svg"]
