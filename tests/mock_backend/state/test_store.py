"""The `Store` contract, run against each implementation: `MemoryStore` (as the server uses it,
and handing out copies) and `RedisStore` on a real redis-server (tests/conftest.py).

Records are values (a change exists once put), the indexes (tokens of a client, issues from an
address, uploads of sessions) follow the puts, and credits are never oversold, whoever races.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mock_backend.state.memory_store import MemoryStore
from mock_backend.state.redis_store import RedisStore, StateUnreachable
from mock_backend.state.store import (
    JournalNews,
    RenderRecord,
    SessionRecord,
    Store,
    TokenRecord,
    UploadRecord,
    UserRecord,
    open_store,
)

KINDS = ["memory", "memory-copies", "redis"]
COPYING = ["memory-copies", "redis"]  # the stores that hand out values, not their own objects


def _open(kind: str, request: pytest.FixtureRequest) -> Store:
    if kind == "memory":
        return MemoryStore()
    if kind == "memory-copies":
        return MemoryStore(copies=True)
    url = request.getfixturevalue("redis_url")
    return RedisStore(url, namespace=request.getfixturevalue("redis_namespace"))


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    opened = _open(request.param, request)
    yield opened
    opened.close()


@pytest.fixture(params=COPYING)
def copying_store(request: pytest.FixtureRequest) -> Iterator[Store]:
    opened = _open(request.param, request)
    yield opened
    opened.close()


def user(user_id: str = "u1", available: int = 100) -> UserRecord:
    return UserRecord(user_id=user_id, registered=False, plan=None, available=available)


def token(name: str, client_id: str | None = "c1", user_id: str = "u1") -> TokenRecord:
    return TokenRecord(
        token=name,
        kind="anonymous",
        user_id=user_id,
        scopes=("read", "write"),
        issued_at=1_700_000_000.25,
        expires_at=1_700_604_800.5,
        client_id=client_id,
    )


def upload(file_id: str, path: Path | None = Path("/tmp/u/song.mp3")) -> UploadRecord:
    return UploadRecord(
        file_id=file_id,
        filename="歌曲.mp3",
        file_type="audio",
        cdn_url=f"http://testserver/cdn/{file_id}/song.mp3",
        path=path,
        duration=3.0,
        width=None,
        height=None,
        fps=None,
        hash="abc",
        size=1234,
    )


def session(session_id: str = "s1", *uploads: UploadRecord) -> SessionRecord:
    return SessionRecord(
        session_id=session_id,
        task_id="t1",
        task_name="project",
        language="zh",
        user_id="u1",
        created_at=1_700_000_001.5,
        draft={"t": [{"sg": [{"m": {"src": "x"}}]}], "d": 12.5, "m": {"canvas": {"w": 1}}},
        uploads=list(uploads),
        generated_media=[{"render_id": "r1", "output": None}],
        duplicate_sends=[{"run": 2, "at": 3.5}],
    )


def render(render_id: str = "r1") -> RenderRecord:
    return RenderRecord(
        render_id=render_id,
        user_id="u1",
        session_id="s1",
        draft={"t": [], "d": 0, "m": {}},
        output_format="mp4",
        quality="high",
        created_at=10.0,
        starts_at=12.0,
        due_at=50.0,
        out_path=Path("/tmp/r/r1/output.mp4"),
        duration=12.0,
    )


# -- records round-trip ------------------------------------------------------------------------


def test_users_round_trip(store: Store) -> None:
    assert store.get_user("u1") is None
    store.put_user(UserRecord(user_id="u1", registered=True, plan="pro", available=7, frozen=3))
    assert store.get_user("u1") == UserRecord("u1", True, "pro", 7, 3)


def test_tokens_round_trip(store: Store) -> None:
    claim = dataclasses.replace(token("clm_1", None), kind="claim", task_id="t", session_id="s")
    store.put_token(token("nmv_1"))
    store.put_token(claim)
    assert store.get_token("nmv_1") == token("nmv_1")
    assert store.get_token("clm_1") == claim
    assert store.get_token("nope") is None
    assert sorted(t.token for t in store.tokens()) == ["clm_1", "nmv_1"]


def test_sessions_round_trip_with_their_uploads(store: Store) -> None:
    ses = session("s1", upload("f1"), upload("f2", path=None))
    store.put_session(ses)
    assert store.get_session("s1") == ses
    assert store.find_upload("f1") == upload("f1")
    assert store.find_upload("f2") == upload("f2", path=None)
    assert store.find_upload("f3") is None


def test_renders_round_trip(store: Store) -> None:
    failed = dataclasses.replace(render("r2"), out_path=None, fail_at=20.0, fail_reason="lost")
    store.put_render(render())
    store.put_render(failed)
    assert store.get_render("r1") == render()
    assert store.get_render("r2") == failed
    assert sorted(r.render_id for r in store.renders()) == ["r1", "r2"]


def test_copies_not_aliases(copying_store: Store) -> None:
    store = copying_store
    store.put_session(session("s1", upload("f1")))
    got = store.get_session("s1")
    assert got is not None
    got.draft["d"] = 99
    got.uploads.append(upload("f9"))
    assert store.get_session("s1") == session("s1", upload("f1")), "changed without a put"
    store.put_session(got)
    assert store.get_session("s1") == got
    assert store.get_session("s1") is not got
    mine = render()
    store.put_render(mine)
    mine.size = 5  # changed after the put: not stored
    assert store.get_render("r1") == render()


# -- indexes ---------------------------------------------------------------------------------


def test_tokens_for_client_oldest_first_each_once(store: Store) -> None:
    for name in ("a", "b", "c"):
        store.put_token(token(name, client_id="c1"))
    store.put_token(token("x", client_id="c2"))
    store.put_token(token("claim", client_id=None))
    revoked = dataclasses.replace(token("a", client_id="c1"), revoked=True)
    store.put_token(revoked)  # put again: still once, and as it is now
    assert [t.token for t in store.tokens_for_client("c1")] == ["a", "b", "c"]
    assert store.tokens_for_client("c1")[0].revoked
    assert [t.token for t in store.tokens_for_client("c2")] == ["x"]
    assert store.tokens_for_client("nobody") == []


def test_issues_from_ip(store: Store) -> None:
    store.record_issue("10.0.0.1", 1.5)
    store.record_issue("10.0.0.1", 1_700_000_000.123456)
    store.record_issue("::1", 2.0)
    assert store.issues_from_ip("10.0.0.1") == [1.5, 1_700_000_000.123456]
    assert store.issues_from_ip("::1") == [2.0]
    assert store.issues_from_ip("10.9.9.9") == []


def test_forget_session_keeps_its_uploads(store: Store) -> None:
    store.put_session(session("s1", upload("f1")))
    store.put_session(session("s2"))
    store.forget_session("s1")
    store.forget_session("never")
    assert store.get_session("s1") is None
    assert store.get_session("s2") is not None
    assert store.find_upload("f1") == upload("f1")  # the CDN still serves it


def test_counts_and_clear(store: Store) -> None:
    store.put_user(user("u1"))
    store.put_user(user("u1"))
    store.put_user(user("u2"))
    store.put_token(token("a", "c1"))
    store.put_token(token("b", "c1"))
    store.put_token(token("c", None))
    store.put_session(session("s1", upload("f1"), upload("f2")))
    store.put_render(render())
    store.record_issue("1.2.3.4", 1.0)
    expected = {
        "users": 2,
        "tokens": 3,
        "client_ids": 1,
        "sessions": 1,
        "uploads": 2,
        "renders": 1,
    }
    assert store.counts() == expected
    store.clear()
    assert store.counts() == dict.fromkeys(expected, 0)
    assert store.get_user("u1") is None
    assert store.tokens_for_client("c1") == []
    assert store.issues_from_ip("1.2.3.4") == []
    assert store.find_upload("f1") is None


def test_redis_clear_deletes_only_its_namespace(redis_url: str, redis_namespace: str) -> None:
    mine = RedisStore(redis_url, namespace=redis_namespace)
    # a namespace with glob characters must not match its neighbours
    other = RedisStore(redis_url, namespace=redis_namespace + "*x")
    try:
        mine.put_user(user("u1"))
        other.put_user(user("u1"))
        other.put_session(session("s1"))
        mine.clear()
        assert mine.get_user("u1") is None
        assert other.get_user("u1") == user("u1")
        assert other.counts()["sessions"] == 1
    finally:
        other.clear()
        other.close()
        mine.close()


def test_a_namespace_nobody_used_for_its_idle_time_is_released(store: Store) -> None:
    """A namespace's records stay while it is marked used, and go, all of them, once unmarked
    for the idle time; the store's own records and the other namespaces' stay."""
    store.put_user(user("own"))
    kept, idle = store.namespace("ci-kept"), store.namespace("ci-idle")
    for ns in (kept, idle):
        ns.put_user(user("u1"))
        ns.put_session(session("s1", upload("f1")))
        ns.add_rules([{"id": "r1", "operation": "getCredits"}])
        ns.move_clock(5.0)
        ns.append_journal({"id": 1}, limit=10, max_bytes=10_000)
    store.mark_used(["ci-kept", "ci-idle"])
    assert store.release_idle(3600) == [], "released while in use"
    assert idle.get_user("u1") == user("u1")
    released: list[str] = []
    for _ in range(100):  # until ci-idle is 0.2 s unmarked; ci-kept is marked just before
        store.mark_used(["ci-kept"])
        released = store.release_idle(0.2)
        if released:
            break
        time.sleep(0.05)
    assert released == ["ci-idle"]
    again = store.namespace("ci-idle")
    assert again.counts() == dict.fromkeys(again.counts(), 0)
    assert again.get_user("u1") is None
    assert again.rules()[1] == []
    assert again.journal() == []
    assert again.clock_state().moves == 0
    assert kept.get_user("u1") == user("u1")
    assert kept.rules()[1] != []
    assert store.release_idle(0) == ["ci-kept"]
    assert store.get_user("own") == user("own"), "releasing namespaces touched the default"
    if isinstance(store, RedisStore):  # not one key of theirs left behind
        redis = store._redis
        assert list(redis.scan_iter(match=store._namespace_prefix() + "ci-*")) == []


def test_open_store_names() -> None:
    assert isinstance(open_store("memory"), MemoryStore)
    with pytest.raises(ValueError, match="expected memory or redis://"):
        open_store("postgres://x")


def test_unreachable_redis_says_what_to_do() -> None:
    with (
        socket_closed() as port,
        pytest.raises(StateUnreachable, match="start redis-server or use --state memory"),
    ):
        RedisStore(f"redis://127.0.0.1:{port}/0")


class socket_closed:
    """A port on 127.0.0.1 nothing listens on (bound, never listening, while in use)."""

    def __enter__(self) -> int:
        import socket

        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        port: int = self._sock.getsockname()[1]
        return port

    def __exit__(self, *_: object) -> None:
        self._sock.close()


# -- credits ---------------------------------------------------------------------------------


def test_freeze_and_settle(store: Store) -> None:
    store.put_user(user("u1", 100))
    assert store.freeze("u1", 30)
    assert not store.freeze("u1", 71)
    assert store.get_user("u1") == UserRecord("u1", False, None, 70, 30)
    store.settle("u1", 30, 10)  # 10 spent, 20 back
    assert store.get_user("u1") == UserRecord("u1", False, None, 90, 0)
    assert not store.freeze("nobody", 1)
    store.settle("nobody", 5, 5)  # nothing to settle: no user appears
    assert store.get_user("nobody") is None


def test_settle_clamps_to_what_is_frozen(store: Store) -> None:
    store.put_user(user("u1", 100))
    assert store.freeze("u1", 20)
    store.settle("u1", 50, 80)  # more than frozen, more spent than frozen: clamped to 20, 20
    assert store.get_user("u1") == UserRecord("u1", False, None, 80, 0)
    assert store.freeze("u1", 10)
    store.settle("u1", 10, -5)  # nothing spent
    assert store.get_user("u1") == UserRecord("u1", False, None, 80, 0)


def test_freezes_racing_in_threads_never_oversell(copying_store: Store) -> None:
    """30 threads race to freeze 50 of 100 credits: exactly two win, and every read while
    they race sees available + frozen == 100. (The default MemoryStore hands out its own
    record, which a reader in another thread may see between two fields of a freeze; the
    server reads it only from its event loop.)"""
    store = copying_store
    store.put_user(user("u1", 100))
    start = threading.Barrier(31)
    won: list[bool] = []
    seen: list[tuple[int, int]] = []
    done = threading.Event()

    def racer() -> None:
        start.wait()
        won.append(store.freeze("u1", 50))

    def reader() -> None:
        start.wait()
        while not done.is_set():
            found = store.get_user("u1")
            assert found is not None
            seen.append((found.available, found.frozen))

    threads = [threading.Thread(target=racer) for _ in range(30)]
    watcher = threading.Thread(target=reader)
    for thread in [*threads, watcher]:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    watcher.join()
    assert won.count(True) == 2
    assert store.get_user("u1") == UserRecord("u1", False, None, 0, 100)
    assert seen
    assert all(a + f == 100 and a >= 0 and f >= 0 for a, f in seen), seen[:20]


def _freeze_until_refused(url: str, namespace: str, amount: int) -> int:
    store = RedisStore(url, namespace=namespace)
    won = 0
    while store.freeze("u1", amount):
        won += 1
        store.settle("u1", amount, 0)  # give it back half the time: settles race freezes too
        if not store.freeze("u1", amount):
            break
        won += 1
    store.close()
    return won


def test_redis_freezes_racing_in_processes_never_oversell(
    redis_url: str, redis_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four processes freeze 7 credits at a time until refused: 14 freezes in all, 2 left."""
    # the workers load their task from this module by its name, with the sys.path given them
    # (pytest's importlib mode leaves it be: run alone, no worker could, and the pool waited
    # for them forever)
    monkeypatch.syspath_prepend(str(Path(__file__).parents[3]))
    store = RedisStore(redis_url, namespace=redis_namespace)
    store.put_user(user("u1", 100))
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        wins = pool.starmap(_freeze_until_refused, [(redis_url, redis_namespace, 7)] * 4)
    assert store.get_user("u1") == UserRecord("u1", False, None, 2, 98)
    assert sum(wins) >= 14  # each settled freeze was a win as well
    store.close()


def test_sequences_count_from_zero_per_name_and_restart_when_cleared(store: Store) -> None:
    assert [store.next_count("ids/c1") for _ in range(3)] == [0, 1, 2]
    assert store.next_count("ids/c2") == 0, "each name counts on its own"
    store.clear()
    assert store.next_count("ids/c1") == 0


def test_sequences_give_each_number_once_under_contention(store: Store) -> None:
    """Eight threads (on Redis: eight connections' worth of interleaving) ask at once."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        numbers = list(pool.map(lambda _: store.next_count("seq/session/u1"), range(400)))
    assert sorted(numbers) == list(range(400))


def test_a_free_run_freezes_and_settles_nothing(store: Store) -> None:
    """A run that costs nothing freezes 0 and settles 0: on Redis, Lua wrote ``-0`` for it and
    HINCRBY refused it ("value is not an integer"), an exception in every free run's end."""
    store.put_user(user(available=100))
    assert store.freeze("u1", 0)
    store.settle("u1", 0, 0)
    store.freeze("u1", 30)
    store.settle("u1", 30, 30)  # all spent: nothing goes back
    found = store.get_user("u1")
    assert found is not None
    assert (found.available, found.frozen) == (70, 0)


def test_rules_keep_their_order_and_every_change_moves_the_version(store: Store) -> None:
    before = store.rules_version()
    store.add_rules([{"id": "r1", "match": {}}, {"id": "r2", "match": {}}])
    version, rules = store.rules()
    assert version != before
    assert [r["id"] for r in rules] == ["r1", "r2"]
    assert store.remove_rules(["r1"]) == 1
    assert store.remove_rules([]) == 0
    assert [r["id"] for r in store.rules()[1]] == ["r2"]
    seen = store.rules_version()
    store.clear()
    assert store.rules() == (store.rules_version(), [])
    assert store.rules_version() != seen, "a clear must move the version: readers rebuild"


def test_a_rule_fires_its_times_and_its_nth_call_only(store: Store) -> None:
    assert [store.fire_rule("twice", None, 2) for _ in range(3)] == [1, 2, None]
    assert [store.fire_rule("third", 3, None) for _ in range(4)] == [None, None, 1, None]
    assert store.rule_counts("third") == (4, 1)


def test_fired_rules_are_counted_once_under_contention(store: Store) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        fired = list(pool.map(lambda _: store.fire_rule("ten", None, 10), range(100)))
    assert sorted(f for f in fired if f is not None) == list(range(1, 11))


def test_the_shared_journal_keeps_the_newest_within_its_count_and_bytes(store: Store) -> None:
    entry = {"id": 0, "path": "/x" * 50}  # about 120 bytes of JSON each
    dropped = [store.append_journal({**entry, "id": n}, limit=5, max_bytes=10**6) for n in range(8)]
    assert [e["id"] for e in store.journal()] == [3, 4, 5, 6, 7]
    assert dropped == [0, 0, 0, 0, 0, 1, 1, 1]
    store.append_journal({**entry, "id": 8, "big": "b" * 1000}, limit=5, max_bytes=500)
    assert [e["id"] for e in store.journal()] == [8], "over budget: only the newest stays"
    assert [e["id"] for e in store.journal(last=1)] == [8]
    assert store.journal(last=0) == []
    store.clear()
    assert store.journal() == []


def test_a_journal_watcher_hears_each_entry_kept_in_order_and_the_clear(store: Store) -> None:
    news: queue.Queue[JournalNews] = queue.Queue()
    stop = store.watch_journal(news.put)
    try:
        for n in (3, 1, 2):  # in the order kept, not by id
            store.append_journal({"id": n, "path": f"/{n}"}, limit=100, max_bytes=10**6)
        store.clear()
        heard = [news.get(timeout=30) for _ in range(4)]  # a bound, not a timing
    finally:
        stop()
    assert [(n.kind, n.entry_id) for n in heard] == [
        ("entry", 3),
        ("entry", 1),
        ("entry", 2),
        ("cleared", 0),
    ]
    assert json.loads(heard[0].text) == {"id": 3, "path": "/3"}
