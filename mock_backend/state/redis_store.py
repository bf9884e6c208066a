"""The records in Redis: the `Store` protocol over redis-py, so several processes share them.

Every key starts with ``nemo:{namespace}:`` (`RedisStore.prefix`), and `clear` deletes those
keys only, so mocks with different namespaces share one Redis database. Records are JSON
(paths as strings); `get_*` decodes a fresh record each time, so a change lives only once put
back (the contract in store.py). The keys, after the prefix:

=====================  ======  ===============================================================
``user:{id}``          hash    ``record`` (the user's JSON without credits), ``available``,
                               ``frozen`` (integers, changed by the Lua scripts of redis_scripts.py)
``users``              set     every user id (counts)
``tokens``             hash    token -> TokenRecord JSON
``client:{id}``        list    that client id's tokens, oldest first
``clients``            set     every client id with a token (counts)
``ip:{address}``       list    when anonymous tokens were issued to that address
``sessions``           hash    session id -> SessionRecord JSON (its uploads inside)
``uploads``            hash    file id -> UploadRecord JSON (kept when a session is forgotten)
``renders``            hash    render id -> RenderRecord JSON
``sequences``          hash    sequence name -> its next number (`next_count`, HINCRBY)
``rules``              list    the rules (JSON, each with its id), in the order added
``rules:version``      string  bumped by every change of ``rules`` (INCR)
``rule:{id}``          hash    ``seen``, ``fired``: the rule's calls, counted by `FIRE_RULE`
``clock:state``        hash    the processes' one virtual time (`ClockState`: ``version``,
                               ``moves``, ``taken``, ``holds``, ``held_at``, ``held_since``),
                               changed by `CLOCK`, each change PUBLISHed on channel ``clock``;
                               kept through `clear`
``journal``            list    finished journal entries (JSON, as the control API shows them);
                               each one kept is PUBLISHed on channel ``journal`` as
                               ``"{id} {JSON}"``, and ``cleared`` when `clear` empties it
``journal:bytes``      string  their JSON bytes in all (`APPEND_JOURNAL` keeps within budget)
``settings``           string  the settings this namespace chose (JSON: PUT /__mock/namespace,
                               namespace_settings.py); kept through `clear`
``namespaces``         zset    the mock namespaces in this one, scored by when a process last
                               used one (Redis's own TIME, so hosts agree): `mark_used`,
                               `release_idle`; kept through `clear`
=====================  ======  ===============================================================

Credits change only in Lua scripts (`FREEZE`, `SETTLE`): Redis runs a script alone, so a
freeze reads and writes the balance with nothing in between, whichever process sends it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis

from ..errors import MockBackendError
from .redis_clock_news import ClockNews
from .redis_scripts import (
    APPEND_JOURNAL,
    CLOCK,
    FIRE_RULE,
    FREEZE,
    MARK_USED,
    PUT_TOKEN,
    RELEASE_IDLE,
    REMOVE_RULES,
    SETTLE,
)
from .store import (
    ClockState,
    JournalNews,
    RenderRecord,
    SessionRecord,
    TokenRecord,
    UploadRecord,
    UserRecord,
)

__all__ = ["RedisStore", "StateUnreachable", "shown"]


class StateUnreachable(MockBackendError):
    """The Redis server named by ``--state`` does not answer."""


_log = logging.getLogger("nemo_mock")
JOURNAL_WATCH_SECONDS = 0.2  # a journal watcher's longest wait on Redis: how soon it stops


def _journal_news(data: str) -> JournalNews:
    """A message of a journal's channel: ``"{id} {JSON}"`` (`APPEND_JOURNAL`), or ``cleared``."""
    if data == "cleared":
        return JournalNews("cleared")
    entry_id, _, text = data.partition(" ")
    return JournalNews("entry", int(entry_id), text)


class RedisStore:
    """`Store` on a Redis server at ``url`` (``redis://HOST:PORT/DB``), under ``nemo:{namespace}:``.

    Raises `StateUnreachable` at once when the server does not answer a PING.
    """

    def __init__(
        self, url: str, *, namespace: str = "default", parent: RedisStore | None = None
    ) -> None:
        """``parent``: the store whose namespace this is (`namespace`), whose connections and
        clock news it shares."""
        self.url = url
        self.namespace_name = namespace
        self.prefix = f"nemo:{namespace}:"
        self._owns_connections = parent is None
        self._redis: redis.Redis
        self._clock_news: ClockNews
        if parent is not None:
            # one pool for the store and all its namespaces, and one listener for their clocks
            self._redis, self._clock_news = parent._redis, parent._clock_news
        else:
            self._redis = redis.Redis.from_url(url, decode_responses=True, socket_timeout=10)
            try:
                self._redis.ping()
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                self._redis.close()
                raise StateUnreachable(
                    f"cannot reach Redis at {shown(url)} ({exc}): start redis-server or use "
                    "--state memory"
                ) from exc
            # its clock's channel and every namespace's (it listens from the first watch)
            pattern = _glob_escape(self._namespace_prefix()) + "*clock"
            self._clock_news = ClockNews(self._redis, pattern)
        self._freeze = self._redis.register_script(FREEZE)
        self._settle = self._redis.register_script(SETTLE)
        self._put_token = self._redis.register_script(PUT_TOKEN)
        self._fire_rule = self._redis.register_script(FIRE_RULE)
        self._remove_rules = self._redis.register_script(REMOVE_RULES)
        self._append_journal = self._redis.register_script(APPEND_JOURNAL)
        self._clock = self._redis.register_script(CLOCK)
        self._mark_used = self._redis.register_script(MARK_USED)
        self._release_idle = self._redis.register_script(RELEASE_IDLE)
        self._watchers: list[tuple[threading.Event, threading.Thread]] = []

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def close(self) -> None:
        for stopped, _ in self._watchers:  # off the connections before they close
            stopped.set()
        for _, thread in self._watchers:
            thread.join(timeout=10 * JOURNAL_WATCH_SECONDS)
        self._watchers.clear()
        if self._owns_connections:  # a namespace's are its parent's, still in use
            self._clock_news.close()
            self._redis.close()

    # -- users and credits -----------------------------------------------------------------
    def get_user(self, user_id: str) -> UserRecord | None:
        found: dict[str, str] = self._redis.hgetall(self._key("user", user_id))  # type: ignore[assignment]
        if not found:
            return None
        return UserRecord(
            **json.loads(found["record"]),
            available=int(found["available"]),
            frozen=int(found["frozen"]),
        )

    def put_user(self, user: UserRecord) -> None:
        record = dataclasses.asdict(user)
        available, frozen = record.pop("available"), record.pop("frozen")
        with self._redis.pipeline() as pipe:  # MULTI/EXEC: the record and its credits at once
            pipe.hset(
                self._key("user", user.user_id),
                mapping={"record": json.dumps(record), "available": available, "frozen": frozen},
            )
            pipe.sadd(self._key("users"), user.user_id)
            pipe.execute()

    def freeze(self, user_id: str, amount: int) -> bool:
        return bool(self._freeze(keys=[self._key("user", user_id)], args=[amount]))

    def settle(self, user_id: str, frozen: int, spent: int) -> None:
        self._settle(keys=[self._key("user", user_id)], args=[frozen, spent])

    # -- tokens and rate limits ------------------------------------------------------------
    def get_token(self, token: str) -> TokenRecord | None:
        raw: str | None = self._redis.hget(self._key("tokens"), token)  # type: ignore[assignment]
        return None if raw is None else _token(raw)

    def tokens(self) -> list[TokenRecord]:
        values: list[str] = self._redis.hvals(self._key("tokens"))  # type: ignore[assignment]
        return [_token(raw) for raw in values]

    def put_token(self, record: TokenRecord) -> None:
        client = record.client_id or ""
        self._put_token(
            keys=[self._key("tokens"), self._key("client", client), self._key("clients")],
            args=[record.token, _dump(record), client],
        )

    def tokens_for_client(self, client_id: str) -> list[TokenRecord]:
        names: list[str] = self._redis.lrange(self._key("client", client_id), 0, -1)  # type: ignore[assignment]
        if not names:
            return []
        values: list[str | None] = self._redis.hmget(self._key("tokens"), names)  # type: ignore[assignment]
        return [_token(raw) for raw in values if raw is not None]

    def issues_from_ip(self, ip: str) -> list[float]:
        values: list[str] = self._redis.lrange(self._key("ip", ip), 0, -1)  # type: ignore[assignment]
        return [float(v) for v in values]

    def record_issue(self, ip: str, at: float) -> None:
        self._redis.rpush(self._key("ip", ip), repr(at))

    # -- sessions, uploads, renders --------------------------------------------------------
    def get_session(self, session_id: str) -> SessionRecord | None:
        raw: str | None = self._redis.hget(self._key("sessions"), session_id)  # type: ignore[assignment]
        return None if raw is None else _session(raw)

    def put_session(self, session: SessionRecord) -> None:
        with self._redis.pipeline() as pipe:
            pipe.hset(self._key("sessions"), session.session_id, _dump(session))
            if session.uploads:
                pipe.hset(
                    self._key("uploads"),
                    mapping={u.file_id: _dump(u) for u in session.uploads},
                )
            pipe.execute()

    def forget_session(self, session_id: str) -> None:
        self._redis.hdel(self._key("sessions"), session_id)

    def get_render(self, render_id: str) -> RenderRecord | None:
        raw: str | None = self._redis.hget(self._key("renders"), render_id)  # type: ignore[assignment]
        return None if raw is None else _render(raw)

    def put_render(self, render: RenderRecord) -> None:
        self._redis.hset(self._key("renders"), render.render_id, _dump(render))

    def renders(self) -> list[RenderRecord]:
        values: list[str] = self._redis.hvals(self._key("renders"))  # type: ignore[assignment]
        return [_render(raw) for raw in values]

    def find_upload(self, file_id: str) -> UploadRecord | None:
        raw: str | None = self._redis.hget(self._key("uploads"), file_id)  # type: ignore[assignment]
        return None if raw is None else _upload(json.loads(raw))

    def settings_overrides(self) -> dict[str, Any]:
        raw = self._redis.get(self._key("settings"))
        found: dict[str, Any] = json.loads(raw) if raw else {}  # type: ignore[arg-type]
        return found

    def put_settings_overrides(self, overrides: dict[str, Any]) -> None:
        if overrides:
            self._redis.set(self._key("settings"), json.dumps(overrides))
        else:
            self._redis.delete(self._key("settings"))

    def counts(self) -> dict[str, int]:
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.scard(self._key("users"))
            pipe.hlen(self._key("tokens"))
            pipe.scard(self._key("clients"))
            pipe.hlen(self._key("sessions"))
            pipe.hlen(self._key("uploads"))
            pipe.hlen(self._key("renders"))
            users, tokens, clients, sessions, uploads, renders = pipe.execute()
        return {
            "users": users,
            "tokens": tokens,
            "client_ids": clients,
            "sessions": sessions,
            "uploads": uploads,
            "renders": renders,
        }

    def namespace(self, name: str) -> RedisStore:
        """The mock namespace ``name``: keys ``nemo:{name}:`` beside the server's own
        ``nemo:default:``; under any other store namespace, inside it (``nemo:test3:{name}:``,
        emptied with it)."""
        name = self._namespace_prefix()[len("nemo:") :] + name
        return RedisStore(self.url, namespace=name, parent=self)

    def _namespace_prefix(self) -> str:
        base = self.namespace_name
        return "nemo:" if base == "default" else f"nemo:{base}:"

    def mark_used(self, names: list[str]) -> None:
        if names:
            self._mark_used(keys=[self._key("namespaces")], args=names)

    def release_idle(self, idle_seconds: float) -> list[str]:
        released = self._release_idle(
            keys=[self._key("namespaces")],
            args=[repr(float(idle_seconds)), _glob_escape(self._namespace_prefix())],
        )
        return [str(name) for name in released]

    # -- rules -------------------------------------------------------------------------------
    shared = True  # several processes may share it: the rules live here too

    def rules(self) -> tuple[int, list[dict[str, Any]]]:
        with self._redis.pipeline() as pipe:  # MULTI/EXEC: the list and its version together
            pipe.get(self._key("rules", "version"))
            pipe.lrange(self._key("rules"), 0, -1)
            version, raws = pipe.execute()
        return int(version or 0), [json.loads(raw) for raw in raws]

    def rules_version(self) -> int:
        return int(self._redis.get(self._key("rules", "version")) or 0)  # type: ignore[arg-type]

    def add_rules(self, rules: list[dict[str, Any]]) -> None:
        if not rules:
            return
        with self._redis.pipeline() as pipe:
            pipe.rpush(self._key("rules"), *(json.dumps(rule) for rule in rules))
            pipe.incr(self._key("rules", "version"))
            pipe.execute()

    def remove_rules(self, rule_ids: list[str] | None) -> int:
        if rule_ids == []:
            return 0  # (an empty ARGV means all to the script)
        keys = [self._key("rules"), self._key("rules", "version")]
        return int(self._remove_rules(keys=keys, args=list(rule_ids or [])))

    def fire_rule(self, rule_id: str, nth: int | None, times: int | None) -> int | None:
        args = ["" if nth is None else nth, "" if times is None else times]
        fired = int(self._fire_rule(keys=[self._key("rule", rule_id)], args=args))
        return None if fired < 0 else fired

    def rule_counts(self, rule_id: str) -> tuple[int, int]:
        found: list[str | None] = self._redis.hmget(self._key("rule", rule_id), ["seen", "fired"])  # type: ignore[assignment]
        return int(found[0] or 0), int(found[1] or 0)

    # -- one virtual time for the processes ---------------------------------------------------
    def clock_state(self) -> ClockState:
        return _clock_state(self._redis.hgetall(self._key("clock", "state")))  # type: ignore[arg-type]

    def _change_clock(self, *args: str) -> ClockState:
        found = self._clock(keys=[self._key("clock", "state"), self._key("clock")], args=args)
        return _clock_state(dict(zip(found[::2], found[1::2], strict=True)))

    def move_clock(self, seconds: float) -> ClockState:
        return self._change_clock("move", repr(float(seconds)))

    def hold_clock(self, at: float, wall: float) -> ClockState:
        return self._change_clock("hold", repr(float(at)), repr(float(wall)))

    def release_clock(self, wall: float, rate: float) -> ClockState:
        return self._change_clock("release", repr(float(wall)), repr(float(rate)))

    def watch_clock(self, on_state: Callable[[ClockState], None]) -> Callable[[], None]:
        # an announcement carries the version only: the state is read (once per change); one
        # listener hears the store's and all its namespaces' (redis_clock_news.py)
        return self._clock_news.watch(self._key("clock"), lambda: on_state(self.clock_state()))

    # -- the journal -------------------------------------------------------------------------
    def append_journal(self, entry: dict[str, Any], *, limit: int, max_bytes: int) -> int:
        keys = [self._key("journal"), self._key("journal", "bytes")]
        text = json.dumps(entry, separators=(",", ":"))
        args: list[str | int] = [text, limit, max_bytes, self._key("journal"), int(entry["id"])]
        return int(self._append_journal(keys=keys, args=args))

    def journal(self, last: int | None = None) -> list[dict[str, Any]]:
        if last is not None and last <= 0:
            return []
        start = 0 if last is None else -last
        raws: list[str] = self._redis.lrange(self._key("journal"), start, -1)  # type: ignore[assignment]
        return [json.loads(raw) for raw in raws]

    def watch_journal(self, on_news: Callable[[JournalNews], None]) -> Callable[[], None]:
        channel = self._key("journal")
        pubsub = self._redis.pubsub()  # type: ignore[no-untyped-call]
        pubsub.subscribe(channel)
        try:  # subscribed once Redis says so: from then on nothing kept is missed
            for _ in range(100):  # a bound on replies, not a timing
                reply = pubsub.get_message(timeout=JOURNAL_WATCH_SECONDS)
                if reply is not None and reply["type"] == "subscribe":
                    break
            else:
                raise StateUnreachable(f"Redis at {shown(self.url)} did not confirm a SUBSCRIBE")
        except BaseException:
            pubsub.close()
            raise
        stopped = threading.Event()

        def listen() -> None:
            try:
                while not stopped.is_set():
                    try:
                        message = pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=JOURNAL_WATCH_SECONDS
                        )
                    except (redis.RedisError, OSError) as exc:
                        # the connection broke: what was announced meanwhile is lost; the next
                        # get_message connects and subscribes again
                        _log.warning("the journal's news from Redis broke off: %s", exc)
                        on_news(JournalNews("missed"))
                        stopped.wait(JOURNAL_WATCH_SECONDS)
                        continue
                    if message is not None and message["type"] == "message":
                        on_news(_journal_news(message["data"]))
            finally:
                pubsub.close()

        # stopping does not wait for the thread: it notices within JOURNAL_WATCH_SECONDS, and
        # closes its connection itself (`close` waits for it)
        thread = threading.Thread(target=listen, name=f"journal news {channel}", daemon=True)
        self._watchers = [(s, t) for s, t in self._watchers if t.is_alive()]
        self._watchers.append((stopped, thread))
        thread.start()
        return stopped.set

    def next_count(self, name: str) -> int:
        # HINCRBY is atomic: two workers asking at once get two numbers
        return int(self._redis.hincrby(self._key("sequences"), name, 1)) - 1  # type: ignore[arg-type]

    def clear(self) -> None:
        """Delete this store's keys, and no other (SCAN, then DEL in batches)."""
        pattern = _glob_escape(self.prefix) + "*"
        # the rules' version is never deleted, only moved on: a process that read version n
        # before a clear must not take a new list that reached n again for the one it holds
        version = self._key("rules", "version")
        # time only goes forward, reset or not, and a hold open meanwhile still ends
        kept = {version, self._key("clock", "state"), self._key("settings")}
        kept.add(self._key("namespaces"))  # a reset of the default leaves the others be
        batch: list[str] = []
        for key in self._redis.scan_iter(match=pattern, count=500):
            if key in kept:
                continue
            batch.append(key)
            if len(batch) >= 500:
                self._redis.delete(*batch)
                batch.clear()
        if batch:
            self._redis.delete(*batch)
        self._redis.incr(version)
        self._redis.publish(self._key("journal"), "cleared")


def _clock_state(found: dict[str, str]) -> ClockState:
    held_at = found.get("held_at")
    return ClockState(
        version=int(found.get("version", 0)),
        moves=float(found.get("moves", 0.0)),
        taken=float(found.get("taken", 0.0)),
        holds=int(found.get("holds", 0)),
        held_at=None if held_at is None else float(held_at),
        held_since=float(found.get("held_since", 0.0)),
    )


# -- JSON ------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _dump(record: Any) -> str:
    return json.dumps(dataclasses.asdict(record), default=_plain, separators=(",", ":"))


def _path(value: str | None) -> Path | None:
    return None if value is None else Path(value)


def _token(raw: str) -> TokenRecord:
    data = json.loads(raw)
    data["scopes"] = tuple(data["scopes"])
    return TokenRecord(**data)


def _upload(data: dict[str, Any]) -> UploadRecord:
    data["path"] = _path(data["path"])
    return UploadRecord(**data)


def _session(raw: str) -> SessionRecord:
    data = json.loads(raw)
    data["uploads"] = [_upload(u) for u in data["uploads"]]
    return SessionRecord(**data)


def _render(raw: str) -> RenderRecord:
    data = json.loads(raw)
    data["out_path"] = _path(data["out_path"])
    return RenderRecord(**data)


def _glob_escape(text: str) -> str:
    """``text`` matched literally by SCAN's glob-style MATCH."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def shown(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()
