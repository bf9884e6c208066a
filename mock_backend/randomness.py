"""One seeded source of randomness, split into independent streams by key.

Each token, session or render draws from its own stream, derived from the server seed and the
key, so that concurrent clients never disturb each other's sequence: the same seed and the same
requests per key give the same answers whatever else the server is doing.
"""

from __future__ import annotations

import hashlib
import random
import threading

__all__ = ["Randomness"]


class Randomness:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._streams: dict[str, random.Random] = {}
        self._lock = threading.Lock()

    def stream(self, *key: object) -> random.Random:
        """The stream for ``key``: the same object every call until `reset`."""
        name = "/".join(str(part) for part in key)
        with self._lock:
            rng = self._streams.get(name)
            if rng is None:
                digest = hashlib.sha256(f"{self.seed}:{name}".encode()).digest()
                rng = random.Random(int.from_bytes(digest[:16], "big"))
                self._streams[name] = rng
            return rng

    def token_hex(self, nbytes: int, *key: object) -> str:
        rng = self.stream("ids", *key)
        return rng.getrandbits(nbytes * 8).to_bytes(nbytes, "big").hex()

    def reset(self, seed: int | None = None) -> None:
        with self._lock:
            if seed is not None:
                self.seed = seed
            self._streams.clear()
