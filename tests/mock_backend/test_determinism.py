"""The same seed and the same requests give the same answers, byte for byte; another seed not."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import SEED, Media, OpenTwin, Twin, auth, events

pytestmark = pytest.mark.anyio


async def script(twin: Twin, media: Media) -> list[Any]:
    """A client's session, recorded: every response body and every streamed payload."""
    record: list[Any] = []

    async def keep(method: str, url: str, **kwargs: Any) -> Any:
        response = await twin.client.request(method, url, **kwargs)
        record.append((method, url, response.status_code, response.content))
        return response.json()

    token_body = await keep(
        "POST", "/api/auth/anonymous-token", headers={"X-Client-Id": "client-a"}
    )
    token = token_body["data"]["token"]
    session = await keep(
        "POST",
        "/api/tasks/me/with-session/nemo_agent",
        json={"task_name": "project", "language": "en"},
        headers=auth(token),
    )
    sid, task_id = session["data"]["session_id"], session["data"]["task_id"]
    await keep(
        "POST",
        f"/api/upload-video/nemo_agent/me/{sid}",
        files=[
            ("files", ("song.mp3", media.song.read_bytes())),
            ("files", ("cover.png", media.cover.read_bytes())),
        ],
        headers=auth(token),
    )
    record.append(await twin.chat(token, sid))
    record.append(await twin.chat(token, sid, "add a title 'Urban Dreams' at the top"))
    state = await keep("GET", f"/api/state/nemo_agent/me/{sid}/latest", headers=auth(token))
    await keep("GET", "/api/credits/balance/simple", headers=auth(token))
    await keep(
        "POST",
        "/api/auth/claim-token",
        json={"task_id": task_id, "session_id": sid},
        headers=auth(token),
    )
    await keep("POST", "/__mock/tokens", json={"credits": 5})
    minted = await keep("POST", "/__mock/tokens", json={"plan": "pro"})
    registered = minted["data"]["token"]
    registered_session = await keep(
        "POST",
        "/api/tasks/me/with-session/nemo_agent",
        json={"task_name": "project"},
        headers=auth(registered),
    )
    record.append(
        await twin.chat(
            registered,
            registered_session["data"]["session_id"],
            "generate a 10 second video of a city timelapse",
        )
    )
    await keep(
        "POST",
        "/api/render/proxy/lambda",
        json={"id": "render_1", "sessionId": sid, "draft": state["data"]["state"]["draft"]},
        headers={
            **auth(token),
            "X-Skill-Source": "s",
            "X-Skill-Version": "1",
            "X-Skill-Platform": "unknown",
        },
    )
    await twin.advance(3)
    await keep("GET", "/api/render/proxy/lambda/render_1", headers=auth(token))
    clock = (await twin.client.get("/__mock/clock")).json()["data"]
    del clock["wall"]  # this machine's wall time as it answered: the machine's, not the seed's
    record.append(clock)
    return record


async def test_the_same_seed_gives_the_same_answers(open_twin: OpenTwin, media: Media) -> None:
    async with open_twin(seed=SEED) as first:
        one = await script(first, media)
    async with open_twin(seed=SEED) as second:
        two = await script(second, media)

    assert len(one) == len(two)
    for left, right in zip(one, two, strict=True):
        assert left == right
    streamed = [item for item in one if isinstance(item, list)]
    assert all(events(payloads) for payloads in streamed), "a run streamed no agent event"


async def test_another_seed_gives_other_tokens_and_ids(open_twin: OpenTwin) -> None:
    found: dict[int, tuple[str, str, str]] = {}
    for seed in (SEED, SEED + 1):
        async with open_twin(seed=seed) as twin:
            token = await twin.token("client-a")
            session = await twin.session(token)
            found[seed] = (token, session["user_id"], session["session_id"])
    mine, other = found[SEED], found[SEED + 1]
    for left, right in zip(mine, other, strict=True):
        assert left != right
