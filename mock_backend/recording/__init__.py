"""Record a backend's exchanges through a proxy, and serve a recording back.

`proxy.create_recorder` is ``nemo-mock record``; `replay.create_replayer` is
``nemo-mock serve --replay``; `cassette` is the format both share (and ``nemo-contract drift``
reads); `secrets` keeps credentials out of it.
"""

from __future__ import annotations

__all__: list[str] = []
