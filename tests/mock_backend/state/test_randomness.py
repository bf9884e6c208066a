"""Randomness: a run's `Draws` are as deterministic as a `random.Random` stream, without its
2.5 KB of state."""

from __future__ import annotations

import random
import string
import sys

from mock_backend.state.randomness import Draws, Randomness


def draws_of(rng: Draws) -> tuple[float, int, list[str]]:
    return rng.random(), rng.getrandbits(128), rng.choices(string.ascii_letters, k=8)


def test_the_same_seed_and_key_give_the_same_draws_and_another_key_others() -> None:
    one, again = Randomness(7), Randomness(7)
    assert draws_of(one.draws("run", "s1", 0)) == draws_of(again.draws("run", "s1", 0))
    assert draws_of(one.draws("run", "s1", 0)) != draws_of(one.draws("run", "s1", 1))
    assert draws_of(one.draws("run", "s1", 0)) != draws_of(Randomness(8).draws("run", "s1", 0))


def test_draws_stay_in_range() -> None:
    rng = Randomness(0).draws("run")
    floats = [rng.random() for _ in range(2000)]
    assert all(0.0 <= x < 1.0 for x in floats)
    assert 0.45 < sum(floats) / len(floats) < 0.55
    assert all(0 <= rng.getrandbits(k) < 2**k for k in (1, 7, 128, 129, 300))
    letters = rng.choices("ab", k=2000)
    assert 800 < letters.count("a") < 1200


def test_draws_hold_no_generator_state() -> None:
    assert sys.getsizeof(Randomness(0).draws("run")) < sys.getsizeof(random.Random(0)) // 10


def test_a_fresh_stream_is_the_kept_one_but_is_not_kept() -> None:
    randomness = Randomness(3)
    fresh = randomness.fresh("render", "s1", 1)
    assert fresh.random() == Randomness(3).stream("render", "s1", 1).random()
    assert not randomness._streams
