"""Fixtures for driving the mock backend over HTTP, the way a client does, and real media files.

`twin` is a `Twin`: the app (``create_app``) on a manual clock, an `httpx.AsyncClient` over the
in-process `StreamingASGITransport`, and small helpers for the steps most tests share (a token,
a session, an upload, a chat run, a render polled to its end). Time moves only through
``POST /__mock/clock``. Settings are changed per test by parametrizing ``mock_settings``
indirectly with a dict of `Settings` fields, or by opening more apps with ``open_twin``.

Every response the client receives is checked by an event hook: never a 500, and every JSON
error is exactly the ``{code, message, data}`` envelope (`assert_envelope`).
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import av
import httpx
import numpy as np
import numpy.typing as npt
import pytest
from starlette.applications import Starlette

from contract.control import AsyncControl
from mock_backend.backend import Backend
from mock_backend.media import samples
from mock_backend.media.samples import make_clip, make_cover, make_song
from mock_backend.settings import Settings
from mock_backend.state.memory_store import MemoryStore
from mock_backend.state.store import Store
from mock_backend.web.app import create_app
from mock_backend.web.transport import StreamingASGITransport, lifespan

BASE_URL = "http://testserver"
SEED = 7
ATTRIBUTION = {
    "X-Skill-Source": "how-to-download-music",
    "X-Skill-Version": "1.0.0",
    "X-Skill-Platform": "unknown",
}
WAVEFORM = (
    "convert this audio track into a shareable video with a waveform visualizer and album art "
    "background"
)
SONG_SECONDS = 3.0
FINISHED = ("completed", "failed")


# -- the envelope ------------------------------------------------------------------------------


def assert_envelope(body: Any, *, where: str = "") -> None:
    """``body`` is an error envelope: exactly code, message and data, nothing else."""
    assert isinstance(body, dict), f"{where}: not a JSON object: {body!r}"
    assert set(body) == {"code", "message", "data"}, f"{where}: not the envelope: {body!r}"
    assert isinstance(body["code"], int), f"{where}: {body!r}"
    assert body["code"] != 0, f"{where}: {body!r}"
    assert isinstance(body["message"], str), f"{where}: {body!r}"
    assert body["message"], f"{where}: {body!r}"
    assert body["data"] is None or isinstance(body["data"], dict), f"{where}: {body!r}"


def assert_error(
    response: httpx.Response,
    code: int,
    *,
    status: int | None = None,
    field: str | None = None,
) -> dict[str, Any]:
    """``response`` is the error ``code`` as the envelope; returns the body.

    ``status`` defaults to the http200 profile: 200 for business codes, else the code itself.
    """
    expected_status = status if status is not None else (200 if code >= 1000 else code)
    body: dict[str, Any] = response.json()
    where = f"{response.request.method} {response.request.url.path}"
    assert_envelope(body, where=where)
    assert (response.status_code, body["code"]) == (expected_status, code), f"{where}: {body}"
    if field is not None:
        assert isinstance(body["data"], dict), body
        assert body["data"].get("field") == field, body
    return body


async def _check_response(response: httpx.Response) -> None:
    where = f"{response.request.method} {response.request.url.path}"
    assert response.status_code < 500, f"{where} answered {response.status_code}"
    if response.status_code < 400 and response.status_code != 200:
        return  # 206 and friends carry file bytes
    if response.headers.get("content-type", "").startswith("application/json"):
        await response.aread()
        body = response.json()
        if response.status_code >= 400 or body.get("code") != 0:
            assert_envelope(body, where=where)
    elif response.status_code >= 400:
        await response.aread()
        raise AssertionError(
            f"{where}: error {response.status_code} is not the JSON envelope "
            f"({response.headers.get('content-type')!r}, {response.content[:200]!r})"
        )


# -- media -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Media:
    song: Path  # mp3, SONG_SECONDS long
    wav: Path
    clip: Path  # mp4 320x240 at 10 fps, H.264 + AAC
    cover: Path  # png 320x320


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    folder = tmp_path_factory.mktemp("media")
    return Media(
        song=make_song(folder / "song.mp3", SONG_SECONDS),
        wav=make_song(folder / "song.wav", 1.0),
        clip=make_clip(folder / "clip.mp4", 2.0, 320, 240, fps=10),
        cover=make_cover(folder / "cover.png", 320, 320),
    )


# -- the twin ----------------------------------------------------------------------------------


class Twin:
    """One mock app and a client talking to it over the streaming in-process transport."""

    def __init__(
        self, app: Starlette, client: httpx.AsyncClient, transport: StreamingASGITransport
    ) -> None:
        self.app = app
        self.client = client
        self.transport = transport
        self.control = AsyncControl(client)  # the control API, as the plugin's NemoMock has it
        self._client_ids = itertools.count(1)

    @property
    def backend(self) -> Backend:
        backend: Backend = self.app.state.backend
        return backend

    @property
    def data_dir(self) -> Path:
        return self.backend.data_dir

    @contextlib.contextmanager
    def from_address(self, host: str) -> Iterator[None]:
        """Requests in this block come from ``host`` (the ASGI scope's client address)."""
        before, self.transport.client = self.transport.client, (host, 40000)
        try:
            yield
        finally:
            self.transport.client = before

    # -- accounts ---------------------------------------------------------------------------
    def new_client_id(self) -> str:
        return f"client-{next(self._client_ids):04d}"

    async def anonymous(self, client_id: str | None) -> httpx.Response:
        headers = {} if client_id is None else {"X-Client-Id": client_id}
        return await self.client.post("/api/auth/anonymous-token", headers=headers)

    async def token(self, client_id: str | None = None) -> str:
        response = await self.anonymous(client_id or self.new_client_id())
        body = response.json()
        assert body["code"] == 0, body
        token: str = body["data"]["token"]
        return token

    async def mint(self, **fields: Any) -> dict[str, Any]:
        """A registered token through the control API (credits, plan, scopes)."""
        return await self.control.mint_token(**fields)

    async def credits(self, token: str) -> dict[str, int]:
        body = (await self.client.get("/api/credits/balance/simple", headers=auth(token))).json()
        assert body["code"] == 0, body
        data: dict[str, int] = body["data"]
        return data

    # -- sessions ---------------------------------------------------------------------------
    async def session(self, token: str) -> dict[str, str]:
        response = await self.client.post(
            "/api/tasks/me/with-session/nemo_agent",
            json={"task_name": "project", "language": "en"},
            headers=auth(token),
        )
        body = response.json()
        assert body["code"] == 0, body
        data: dict[str, str] = body["data"]
        return data

    async def state(self, token: str, session_id: str) -> dict[str, Any]:
        response = await self.client.get(
            f"/api/state/nemo_agent/me/{session_id}/latest", headers=auth(token)
        )
        body = response.json()
        assert body["code"] == 0, body
        data: dict[str, Any] = body["data"]
        return data

    async def upload(self, token: str, session_id: str, *paths: Path) -> list[dict[str, Any]]:
        files = [("files", (path.name, path.read_bytes())) for path in paths]
        response = await self.client.post(
            f"/api/upload-video/nemo_agent/me/{session_id}", files=files, headers=auth(token)
        )
        body = response.json()
        assert body["code"] == 0, body
        uploaded: list[dict[str, Any]] = body["data"]["files"]
        return uploaded

    async def ready(self, *paths: Path, token: str | None = None) -> Ready:
        """A token, a session, and ``paths`` uploaded into it."""
        token = token or await self.token()
        session = await self.session(token)
        files = await self.upload(token, session["session_id"], *paths) if paths else []
        return Ready(token, session["session_id"], session["task_id"], files)

    # -- the clock --------------------------------------------------------------------------
    async def advance(self, seconds: float) -> float:
        return await self.control.advance(seconds)

    async def now(self) -> float:
        return await self.control.now()

    # -- chat -------------------------------------------------------------------------------
    async def chat(
        self,
        token: str,
        session_id: str,
        text: str = WAVEFORM,
        *,
        on_event: Callable[[bytes], Awaitable[None]] | None = None,
        step: float = 1.0,
        wall: float = 15.0,
    ) -> list[bytes]:
        """Run the agent on ``text`` and read its stream to the end, moving the clock by ``step``.

        Returns every ``data:`` payload (heartbeats and empty ones included), in order;
        ``on_event`` is awaited after each of them, while the run is still going.
        """
        payloads: list[bytes] = []
        finished = anyio.Event()

        async def move_time() -> None:
            while not finished.is_set():
                await self.advance(step)
                for _ in range(20):  # let the run fire what is due before time moves again
                    await anyio.lowlevel.checkpoint()

        with anyio.fail_after(wall):
            async with (
                anyio.create_task_group() as tg,
                self.client.stream(
                    "POST",
                    "/run_sse",
                    json=run_body(session_id, text),
                    headers={**auth(token), "Accept": "text/event-stream"},
                ) as response,
            ):
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                tg.start_soon(move_time)
                try:
                    async for line in response.aiter_lines():
                        if not line.startswith("data:"):
                            continue
                        payload = line.removeprefix("data:").strip().encode()
                        payloads.append(payload)
                        if on_event is not None:
                            await on_event(payload)
                finally:
                    finished.set()
        return payloads

    # -- renders ----------------------------------------------------------------------------
    async def submit(
        self,
        token: str,
        session_id: str,
        draft: dict[str, Any],
        render_id: str,
        *,
        output: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        body: dict[str, Any] = {"id": render_id, "sessionId": session_id, "draft": draft}
        if output is not None:
            body["output"] = output
        chosen = ATTRIBUTION if headers is None else headers
        return await self.client.post(
            "/api/render/proxy/lambda", json=body, headers={**auth(token), **chosen}
        )

    async def poll(self, token: str, render_id: str) -> dict[str, Any]:
        response = await self.client.get(
            f"/api/render/proxy/lambda/{render_id}", headers=auth(token)
        )
        body: dict[str, Any] = response.json()
        assert body["code"] == 0, body
        return body

    async def until_finished(
        self, token: str, render_id: str, *, step: float = 5.0, wall: float = 20.0
    ) -> list[dict[str, Any]]:
        """Poll ``render_id``, moving the clock by ``step`` between polls, until it finishes.

        The encoder runs in a worker thread in real time, so while the job is still processing
        the loop also gives it a few wall milliseconds; ``wall`` bounds the whole wait.
        """
        views = [await self.poll(token, render_id)]
        with anyio.fail_after(wall):
            while views[-1]["status"] not in FINISHED:
                await self.advance(step)
                views.append(await self.poll(token, render_id))
                if views[-1]["status"] == "processing":
                    await anyio.sleep(0.01)  # wall time for the encoder thread, not for the clock
        return views


@dataclass(frozen=True)
class Ready:
    token: str
    session_id: str
    task_id: str
    files: list[dict[str, Any]]


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def run_body(session_id: str, text: str) -> dict[str, Any]:
    return {
        "app_name": "nemo_agent",
        "user_id": "me",
        "session_id": session_id,
        "new_message": {"parts": [{"text": text}]},
    }


def events(payloads: list[bytes]) -> list[dict[str, Any]]:
    """The JSON events among ``payloads`` (heartbeats and empty lines left out)."""
    found = []
    for payload in payloads:
        if payload:
            event = json.loads(payload)
            if event != {"type": "heartbeat"}:
                found.append(event)
    return found


def rss_bytes() -> int:
    """This process's resident set size (VmRSS), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


# -- fixtures ----------------------------------------------------------------------------------


OpenTwin = Callable[..., contextlib.AbstractAsyncContextManager[Twin]]


@pytest.fixture
def open_twin(tmp_path: Path) -> OpenTwin:
    """``async with open_twin(**settings) as twin``: a fresh app on a manual clock (its records
    in ``store=`` if given)."""
    counter = itertools.count()

    @contextlib.asynccontextmanager
    async def open_(
        *, address: str = "127.0.0.1", store: Store | None = None, **changes: Any
    ) -> AsyncIterator[Twin]:
        fields: dict[str, Any] = {
            "clock": "manual",
            "seed": SEED,
            "data_dir": tmp_path / f"data-{next(counter)}",
        }
        app = create_app(Settings(**{**fields, **changes}), store=store)
        transport = StreamingASGITransport(app, client=(address, 40000))
        async with (
            lifespan(app),
            httpx.AsyncClient(
                transport=transport,
                base_url=BASE_URL,
                event_hooks={"response": [_check_response]},
            ) as client,
        ):
            yield Twin(app, client, transport)

    return open_


@pytest.fixture
def mock_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Changes to the default `Settings`; parametrize indirectly to change them."""
    changes: dict[str, Any] = getattr(request, "param", {})
    return changes


# where a twin's records live: parametrize ``mock_store`` indirectly with these to run a test
# on each store, or run the whole suite on one with ``pytest --mock-store copies|redis``
STORES = ["memory", "copies", "redis"]


@pytest.fixture
def mock_store(request: pytest.FixtureRequest) -> Iterator[Store | None]:
    """The twin's store: None (the server's default MemoryStore), a `MemoryStore` handing out
    copies (a change without its put is lost, as in Redis), or a `RedisStore` on the session's
    redis-server."""
    kind = getattr(request, "param", None) or request.config.getoption("mock_store")
    if kind == "memory":
        yield None
    elif kind == "copies":
        yield MemoryStore(copies=True)
    else:
        from mock_backend.state.redis_store import RedisStore

        url = request.getfixturevalue("redis_url")
        yield RedisStore(url, namespace=request.getfixturevalue("redis_namespace"))


@pytest.fixture
async def twin(
    open_twin: OpenTwin, mock_settings: dict[str, Any], mock_store: Store | None
) -> AsyncIterator[Twin]:
    async with open_twin(store=mock_store, **mock_settings) as opened:
        yield opened


@pytest.fixture
def app(twin: Twin) -> Starlette:
    return twin.app


@pytest.fixture
def client(twin: Twin) -> httpx.AsyncClient:
    return twin.client


# -- real media files for the media and rendering tests, made once per session ------------------

CDN = "http://127.0.0.1:8000/cdn"

Frames = list[tuple[float, npt.NDArray[np.uint8]]]


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def song(media_dir: Path) -> Path:
    return samples.make_song(media_dir / "song.mp3", 4.0)


@pytest.fixture(scope="session")
def tone(media_dir: Path) -> Path:
    return samples.make_tone(media_dir / "tone.wav", 4.0, freq=1000)


@pytest.fixture(scope="session")
def clip(media_dir: Path) -> Path:
    return samples.make_clip(media_dir / "clip.mp4", 3.0, 320, 240, 10)


@pytest.fixture(scope="session")
def cover(media_dir: Path) -> Path:
    return samples.make_cover(media_dir / "cover.png", 400, 300)


@pytest.fixture(scope="session")
def garbage(media_dir: Path) -> Path:
    path = media_dir / "notes.mp3"
    path.write_text("these are my notes, not a song\n" * 20)
    return path


@pytest.fixture(scope="session")
def uploaded(song: Path, tone: Path, clip: Path, cover: Path, garbage: Path) -> dict[str, Path]:
    """What a session uploaded: CDN URL -> local file, as the render engine receives it."""
    files = {"song.mp3": song, "tone.wav": tone, "clip.mp4": clip, "cover.png": cover}
    files["notes.mp3"] = garbage
    return {f"{CDN}/f_{name.split('.')[0]}/{name}": path for name, path in files.items()}


@pytest.fixture(scope="session")
def url() -> Callable[[str], str]:
    """The CDN URL of one of the uploaded files, by file name."""
    return lambda name: f"{CDN}/f_{name.split('.')[0]}/{name}"


@pytest.fixture(scope="session")
def decode_frames() -> Callable[[Path], Frames]:
    """Every picture of a video file with its time in seconds."""

    def decode(path: Path) -> Frames:
        with av.open(str(path)) as container:
            return [
                (float(frame.time or 0.0), np.asarray(frame.to_ndarray(format="rgb24"), np.uint8))
                for frame in container.decode(video=0)
            ]

    return decode


@pytest.fixture(scope="session")
def correlation() -> Callable[[npt.NDArray[np.float32], npt.NDArray[np.float32]], float]:
    """Best normalised cross-correlation of two (2, n) signals within +-50 ms of alignment.

    Codecs add a few ms of delay and padding; within that window a re-encoding of the same
    audio scores near 1, and unrelated audio near 0.
    """

    def best(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
        x, y = a.mean(axis=0).astype(np.float64), b.mean(axis=0).astype(np.float64)
        n = min(x.size, y.size)
        x, y = x[:n] - x[:n].mean(), y[:n] - y[:n].mean()
        size = 1 << (2 * n - 1).bit_length()
        spectrum = np.fft.rfft(x, size) * np.conj(np.fft.rfft(y, size))
        full = np.fft.irfft(spectrum, size)
        lag = int(0.05 * samples.SAMPLE_RATE)
        window = np.concatenate([full[-lag:], full[: lag + 1]])
        norm = float(np.linalg.norm(x) * np.linalg.norm(y))
        return float(window.max() / norm) if norm else 0.0

    return best
