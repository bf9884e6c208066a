"""One seeded source of randomness, split into independent streams by key.

Each token, session or render draws from its own stream, derived from the server seed and the
key, so that concurrent clients never disturb each other's sequence: the same seed and the same
requests per key give the same answers whatever else the server is doing.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

__all__ = ["Draws", "Randomness", "Rng"]


class Rng(Protocol):
    """The draws a run makes: `random.Random` has them, and so has `Draws`."""

    def random(self) -> float: ...

    def getrandbits(self, k: int, /) -> int: ...

    def choices(self, population: Sequence[str], *, k: int = 1) -> list[str]: ...


class Draws:
    """A seeded stream of draws with no generator state: each draw hashes the stream's key and
    its number. `random.Random` carries 2.5 KB of Mersenne Twister state; a run lives as long
    as its event stream, and ten thousand streams held at once would carry 25 MB of it."""

    __slots__ = ("_key", "_n")

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._n = 0

    def _next(self) -> int:
        self._n += 1
        digest = hashlib.blake2b(self._key, digest_size=16, salt=self._n.to_bytes(16, "big"))
        return int.from_bytes(digest.digest(), "big")

    def random(self) -> float:
        return (self._next() >> 75) / (1 << 53)  # 53 bits, as random.random()

    def getrandbits(self, k: int, /) -> int:
        bits, have = 0, 0
        while have < k:
            bits = (bits << 128) | self._next()
            have += 128
        return bits >> (have - k)

    def choices(self, population: Sequence[str], *, k: int = 1) -> list[str]:
        return [population[self._next() % len(population)] for _ in range(k)]


class Randomness:
    def __init__(self, seed: int, *, count: Callable[[str], int] | None = None) -> None:
        """``count(name)``: the next number of a named sequence (0, 1, ...), for the ids of
        `token_hex`; the backend passes its store's (`Store.next_count`), so processes that
        share a store draw each id once. Without it, counts are kept here."""
        self.seed = seed
        self._streams: dict[str, random.Random] = {}
        self._counts: dict[str, int] = {}  # ids drawn per key (token_hex), without ``count``
        self._count = count or self._count_here
        self._lock = threading.Lock()

    def _count_here(self, name: str) -> int:
        with self._lock:
            n = self._counts.get(name, 0)
            self._counts[name] = n + 1
            return n

    def stream(self, *key: object) -> random.Random:
        """The stream for ``key``: the same object every call until `reset`."""
        name = "/".join(str(part) for part in key)
        with self._lock:
            rng = self._streams.get(name)
            if rng is None:
                rng = self._streams[name] = self.fresh(*key)
            return rng

    def fresh(self, *key: object) -> random.Random:
        """A new generator for ``key``, kept nowhere: for a key drawn from once (one render),
        whose number comes from the store's counts, so that every process sharing the store
        derives the same draws for it, and none keeps a 2.5 KB generator per key for the
        server's lifetime."""
        name = "/".join(str(part) for part in key)
        digest = hashlib.sha256(f"{self.seed}:{name}".encode()).digest()
        return random.Random(int.from_bytes(digest[:16], "big"))

    def draws(self, *key: object) -> Draws:
        """A stateless stream for a key used once, held for long (a run: its event stream)."""
        name = "/".join(str(part) for part in key)
        return Draws(hashlib.sha256(f"{self.seed}:{name}".encode()).digest())

    def token_hex(self, nbytes: int, *key: object) -> str:
        """The next id of ``key``'s sequence (``nbytes`` random bytes as hex, up to 32).

        Ids are derived by hashing the seed, the key and a per-key count, not drawn from a
        `random.Random`: a mock that mints an id per token, session, task and file would
        otherwise keep a 2.5 KB generator per id for its lifetime (a soak run grew by
        ~10 KB per client for nothing); a count is a few dozen bytes."""
        if not 0 < nbytes <= 32:
            raise ValueError(f"token_hex gives 1 to 32 bytes, not {nbytes}")
        name = "/".join(str(part) for part in key)
        n = self._count(f"ids/{name}")
        digest = hashlib.sha256(f"{self.seed}:ids/{name}:{n}".encode()).digest()
        return digest[:nbytes].hex()

    def reset(self, seed: int | None = None) -> None:
        with self._lock:
            if seed is not None:
                self.seed = seed
            self._streams.clear()
            self._counts.clear()
