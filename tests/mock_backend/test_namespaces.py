"""Namespaces: many CI runs on one shared mock, each with its own records, rules, clock and
journal, named by ``X-Mock-Namespace`` or a ``/__ns/NAME`` base URL; reset one, the others stay.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from mock_backend.namespaces import Namespaces
from mock_backend.settings import DAY
from mock_backend.state.memory_store import MemoryStore
from mock_backend.state.store import Store, UserRecord

from .conftest import BASE_URL, STORES, Media, OpenTwin, Twin, _check_response, auth

pytestmark = pytest.mark.anyio

InNamespace = Callable[..., contextlib.AbstractAsyncContextManager[Twin]]


@pytest.fixture
def in_namespace(twin: Twin) -> InNamespace:
    """``async with in_namespace(twin, "a") as a``: the same mock, seen from namespace ``a``
    (by header, or by base URL with ``by="path"``)."""

    @contextlib.asynccontextmanager
    async def open_(of: Twin, name: str, *, by: str = "header") -> AsyncIterator[Twin]:
        options: dict[str, Any] = {"base_url": BASE_URL, "headers": {}}
        if by == "header":
            options["headers"]["X-Mock-Namespace"] = name
        else:
            options["base_url"] = f"{BASE_URL}/__ns/{name}"
        async with httpx.AsyncClient(
            transport=of.transport, event_hooks={"response": [_check_response]}, **options
        ) as client:
            yield Twin(of.app, client, of.transport)

    return open_


@pytest.mark.parametrize("mock_store", STORES, indirect=True)
async def test_records_made_in_one_namespace_are_unknown_in_the_others(
    twin: Twin, in_namespace: InNamespace, media: Media, mock_store: Store | None
) -> None:
    async with in_namespace(twin, "ci-1") as one, in_namespace(twin, "ci-2", by="path") as two:
        ready = await one.ready(media.song)
        assert (await one.credits(ready.token))["available"] == 100
        for other in (two, twin):
            refused = await other.client.get(
                "/api/credits/balance/simple", headers=auth(ready.token)
            )
            assert refused.json()["code"] == 1001, "a token of ci-1 works in another namespace"
        assert twin.backend.store.counts()["tokens"] == 0, "the default namespace got a record"


@pytest.mark.parametrize("mock_store", STORES, indirect=True)
async def test_resetting_one_namespace_leaves_the_others_untouched(
    twin: Twin, in_namespace: InNamespace, mock_store: Store | None
) -> None:
    async with in_namespace(twin, "ci-1") as one, in_namespace(twin, "ci-2") as two:
        tokens = {name: await view.token() for name, view in (("one", one), ("two", two))}
        tokens["default"] = await twin.token()
        await one.control.reset()
        gone = await one.client.get("/api/credits/balance/simple", headers=auth(tokens["one"]))
        assert gone.json()["code"] == 1001, "the reset namespace kept its token"
        assert (await two.credits(tokens["two"]))["available"] == 100
        assert (await twin.credits(tokens["default"]))["available"] == 100


async def test_each_namespace_has_its_own_clock_rules_and_journal(
    twin: Twin, in_namespace: InNamespace
) -> None:
    async with in_namespace(twin, "ci-1") as one, in_namespace(twin, "ci-2") as two:
        first, second = await one.token(), await two.token()
        await one.advance(7 * DAY + 1)  # ci-1's token expires; ci-2's clock did not move
        expired = await one.client.get("/api/credits/balance/simple", headers=auth(first))
        assert expired.json()["code"] == 1001
        assert (await two.credits(second))["available"] == 100
        assert await two.now() < await one.now()

        await one.control.scenario("out-of-credits")
        assert [
            r["name"] for r in (await two.client.get("/__mock/scenarios")).json()["data"]["active"]
        ] == [], "a rule given in ci-1 is active in ci-2"
        operations = [e["operation"] for e in await two.control.journal()]
        assert operations == ["createAnonymousToken", "getCredits"], operations
        assert await twin.control.journal() == [], "the default namespace journaled them"


async def test_urls_handed_out_in_a_namespace_carry_it(
    twin: Twin, in_namespace: InNamespace, media: Media
) -> None:
    """A client fetches cdn_url with no header: the URL itself names the namespace."""
    async with in_namespace(twin, "ci-1") as one:
        ready = await one.ready(media.song)
        url = ready.files[0]["cdn_url"]
        assert url.startswith(f"{BASE_URL}/__ns/ci-1/"), url
        fetched = await twin.client.get(url)  # the plain client, no namespace header
        assert fetched.status_code == 200
        assert fetched.content == media.song.read_bytes()
        journal = await one.control.journal()
        assert all(not e["path"].startswith("/__ns/") for e in journal), "the prefix is routing"


@pytest.mark.parametrize(
    ("header", "path", "field"),
    [
        ("has space", "", "header.X-Mock-Namespace"),
        ("", "/__ns/..%2f/api/credits/balance/simple", "path"),
        ("x" * 65, "", "header.X-Mock-Namespace"),
    ],
)
async def test_a_name_that_is_not_one_gets_the_envelope_and_says_why(
    twin: Twin, header: str, path: str, field: str
) -> None:
    headers = {"X-Mock-Namespace": header} if header else {}
    response = await twin.client.get(path or "/api/credits/balance/simple", headers=headers)
    body = response.json()
    assert body["code"] == 422, body
    assert body["data"] == {"field": field}
    assert "is not a namespace name" in body["message"]


async def test_namespaces_are_bounded_and_idle_ones_close(
    open_twin: OpenTwin, in_namespace: InNamespace
) -> None:
    async with (
        open_twin(max_namespaces=2) as mock,
        in_namespace(mock, "a") as a,
        in_namespace(mock, "b") as b,
    ):
        await a.token()
        await b.token()
        async with in_namespace(mock, "c") as c:
            refused = await c.client.get("/api/credits/balance/simple")
        body = refused.json()
        assert body["code"] == 429, body
        assert "holds 2 namespaces" in body["message"]
        listed = (await mock.client.get("/__mock/namespaces")).json()["data"]
        assert [n["name"] for n in listed["namespaces"]] == ["a", "b"]
        assert listed["namespaces"][0]["state"]["tokens"] == 1

    async with (
        open_twin(max_namespaces=1, namespace_idle=0) as mock,
        in_namespace(mock, "a") as a,
        in_namespace(mock, "b") as b,
    ):
        await a.token()
        await b.token()  # a, idle with no run going on, closes to make room
        listed = (await mock.client.get("/__mock/namespaces")).json()["data"]
        assert [n["name"] for n in listed["namespaces"]] == ["b"]


class _Backend:
    def __init__(self, runs: int, store: MemoryStore | None = None) -> None:
        self.runs = [object()] * runs
        self.closed = False
        self.store = store or MemoryStore()

    def close(self) -> None:
        self.closed = True


def test_a_namespace_with_a_run_going_on_is_never_idle() -> None:
    now = [0.0]
    made: dict[str, _Backend] = {}

    def make(name: str) -> Any:
        made[name] = _Backend(runs=1 if name == "streaming" else 0)
        return made[name]

    namespaces = Namespaces(
        _Backend(0),  # type: ignore[arg-type]
        make,
        idle_seconds=60,
        limit=10,
        now=lambda: now[0],
    )
    namespaces.get("streaming")
    namespaces.get("quiet")
    now[0] = 61
    assert namespaces.expire() == ["quiet"]
    assert made["quiet"].closed
    assert not made["streaming"].closed
    made["streaming"].runs = []
    assert namespaces.expire() == ["streaming"]


def test_records_go_once_no_process_used_a_namespace_and_never_while_one_runs() -> None:
    """Two processes (two `Namespaces`) on one store: a namespace one of them closed for
    being idle keeps its records while the other uses it, and they go (files too) once
    neither did for the idle time; one with a run going on is never released."""
    now = [0.0]
    shared = MemoryStore(now=lambda: now[0])  # the store's clock: Redis's TIME on Redis
    released: dict[str, list[str]] = {"a": [], "b": []}
    runs = {"streaming": 1}

    def process(name: str) -> Namespaces:
        def make(ns: str) -> Any:
            return _Backend(runs=runs.get(ns, 0), store=shared.namespace(ns))

        return Namespaces(
            _Backend(0, shared),  # type: ignore[arg-type]
            make,
            idle_seconds=60,
            limit=10,
            now=lambda: now[0],
            released=released[name].append,
        )

    a, b = process("a"), process("b")
    assert a.period == 3.0  # a twentieth of the idle time
    a.get("ci-1").store.put_user(UserRecord("u1", False, None, 100))
    a.get("streaming")
    for t in range(0, 121, 3):  # b uses ci-1 for two minutes; a does not
        now[0] = t
        b.get("ci-1")
        assert a.sweep() == []
        assert b.sweep() == []
    assert "ci-1" not in [n["name"] for n in a.describe()], "a kept its idle namespace open"
    assert shared.namespace("ci-1").get_user("u1") is not None, "released while b used it"
    now[0] += 60 + 3  # nobody used it for its idle time and one period
    assert a.sweep() == ["ci-1"]
    assert released == {"a": ["ci-1"], "b": []}
    assert shared.namespace("ci-1").get_user("u1") is None
    assert b.sweep() == []  # b closes it too, nothing left to release
    assert "streaming" in [n["name"] for n in a.describe()], "a run going on was closed"


async def test_closing_a_namespace_forgets_it_and_the_default_cannot_be_closed(
    twin: Twin, in_namespace: InNamespace
) -> None:
    async with in_namespace(twin, "ci-1") as one:
        token = await one.token()
        assert await one.control.close_namespace() == "ci-1"
        listed = (await twin.client.get("/__mock/namespaces")).json()["data"]
        assert listed["namespaces"] == []
        again = await one.client.get("/api/credits/balance/simple", headers=auth(token))
        assert again.json()["code"] == 1001, "a closed namespace came back with its records"
    refused = await twin.client.delete("/__mock/namespace")
    body = refused.json()
    assert body["code"] == 422, body
    assert "POST /__mock/reset" in body["message"]


async def test_a_namespace_journal_gets_a_share_of_the_default_budget(
    twin: Twin, in_namespace: InNamespace
) -> None:
    """100 namespaces with full journals must not hold 100 default journals' memory."""
    async with in_namespace(twin, "ci-1") as one:
        await one.token()
        journal = twin.app.state.namespaces.get("ci-1").journal
        default = twin.backend.journal
        # 100 namespaces at most (the default): each keeps 4/100 of the default's journal
        assert journal.limit == default.limit * 4 // 100
        assert journal.max_bytes == default.max_bytes * 4 // 100


async def test_a_render_in_a_namespace_encodes_the_uploads_its_urls_name(
    twin: Twin, in_namespace: InNamespace, media: Media
) -> None:
    """The URLs a namespace hands out carry its prefix (/__ns/NAME/cdn/...): a draft naming
    them renders, as it does without a namespace (it failed: "not an uploaded file")."""
    from .rendering.test_renders import audio_draft

    async with in_namespace(twin, "ci-render", by="path") as own:
        ready = await own.ready(media.song)
        assert "/__ns/ci-render/cdn/" in ready.files[0]["cdn_url"]
        submitted = await own.submit(ready.token, ready.session_id, audio_draft(ready), "r_ns")
        assert submitted.json()["status"] == "pending", submitted.text
        final = (await own.until_finished(ready.token, "r_ns"))[-1]
        assert final["status"] == "completed", final["error"]
        assert final["output"]["url"].startswith(f"{BASE_URL}/__ns/ci-render/cdn/renders/")
