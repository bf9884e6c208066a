"""Hypothesis stateful test: the reference client, in-process, against the real mock.

Each run of the state machine gets its own mock (``create_app``, clock scaled 200x), its own
HOME and client id, and drives the command line (`embed.run` over `SyncASGITransport`) through
a random sequence of intents: credits, status, upload, chat (English and Chinese), export
(mp4, mp3), convert and extract; between them, named scenarios of the mock's catalogue are
applied to the client's user (or to everyone) through ``POST /__mock/scenarios``.

After every command (`assert_sound_run`): an exit code and never a traceback, an actionable
message with every failure, no token the mock issued in any output, no negative balance; and
every export, convert or extract either delivers a file that opens (PyAV) with the expected
streams, or fails with a message. Nothing asserts on timing: the mock's clock runs on wall
time, so how far a render got may vary on a loaded machine, while these promises may not.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import ClassVar

import av
import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from clients_under_test.reference.embed import run
from mock_backend.control.scenarios import CATALOGUE
from mock_backend.media.samples import make_clip, make_song
from mock_backend.settings import Settings
from mock_backend.state.clock import Clock as MockClock
from mock_backend.web.app import create_app
from mock_backend.web.transport import SyncASGITransport

from .contract_strategies import assert_sound_run

SCALE = 200.0  # virtual seconds per wall second, for the mock and the client alike
MOCK_URL = "http://nemo-mock.test"
WEB_URL = "https://nemovideo.test"
CLIENT_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "nemo-contract:test_stateful"))
PHRASES = [
    "add a title 'Urban Dreams'",
    "make the background music quieter",
    "what can you do?",
    "put the song on the timeline with a waveform visualizer",
    "添加标题「城市之梦」",
    "把背景音乐音量调到30%",
    "加一个波形可视化",
]
# A named scenario of the mock's catalogue, for the client's user only (False) or everyone.
SCENARIO = st.none() | st.tuples(st.sampled_from(sorted(CATALOGUE)), st.booleans())


class MockTime:
    """The client's clock: the mock's virtual time; a sleep waits ``seconds / scale`` of wall
    time, so the mock's clock has moved ``seconds`` when it returns (as contract/adapters.py)."""

    def __init__(self, clock: MockClock, scale: float) -> None:
        self._clock = clock
        self._scale = scale

    def now(self) -> float:
        return self._clock.now()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self._scale)


class ClientAgainstMock(RuleBasedStateMachine):
    song: ClassVar[Path]  # set by the test, generated once
    clip: ClassVar[Path]

    def __init__(self) -> None:
        super().__init__()
        # a thousand credits: several edits fit before the out-of-credits scenarios drain them
        settings_ = Settings(clock=f"scaled:{SCALE:g}", tokens_per_ip=10**6, anonymous_credits=1000)
        self.app = create_app(settings_)
        self.backend = self.app.state.backend
        # a scripted stream cut raises in the app: expected, the client sees a dropped stream
        self.transport = SyncASGITransport(self.app, raise_app_exceptions=False)
        self.http = httpx.Client(transport=self.transport, timeout=httpx.Timeout(60.0))
        self.home = Path(tempfile.mkdtemp(prefix="nemo-stateful-"))
        self.env = {
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "NEMO_API_URL": MOCK_URL,
            "NEMO_WEB_URL": WEB_URL,
            "NEMO_CLIENT_ID": CLIENT_ID,
        }
        self.clock = MockTime(self.backend.clock, SCALE)
        self.commands = 0

    def teardown(self) -> None:
        try:
            self.http.close()
            self.transport.close()
        finally:
            self.backend.close()
            shutil.rmtree(self.home, ignore_errors=True)

    # -- driving the command line ----------------------------------------------------------

    def cli(self, *argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        self.commands += 1
        code = run(
            list(argv), env=self.env, http=self.http, clock=self.clock, stdout=out, stderr=err
        )
        tokens = {t.token for t in self.backend.store.tokens() if t.kind != "claim"}
        assert_sound_run(list(argv), code, out.getvalue(), err.getvalue(), tokens)
        return code, out.getvalue(), err.getvalue()

    def deliver(self, argv: list[str], target: Path, fmt: str) -> None:
        """Run a command that ends with a file: it opens with the right streams, or the
        command failed (with the message `assert_sound_run` checked)."""
        code, out, err = self.cli(*argv, "--out", str(target))
        assert not target.with_name(target.name + ".part").exists(), "a partial file was left"
        if code != 0:
            return
        assert target.is_file(), f"exit 0 but no {target.name}\n{out}{err}"
        assert target.stat().st_size > 0, f"{target.name} is empty"
        with av.open(str(target)) as container:
            kinds = {stream.type for stream in container.streams}
            duration = (container.duration or 0) / 1_000_000
        if fmt == "mp3":
            assert kinds == {"audio"}, f"{target.name} has {kinds}"
        else:
            assert "video" in kinds, f"{target.name} has {kinds}"
        assert duration > 0, f"{target.name} lasts {duration} s"

    def output(self, fmt: str) -> Path:
        return self.home / "out" / f"result-{self.commands}.{fmt}"

    # -- the backend's edge cases ----------------------------------------------------------

    def apply(self, scenario: tuple[str, bool] | None) -> None:
        """Apply a named scenario of the mock's catalogue to the client's user (its client id
        before it has a token), or to everyone."""
        if scenario is None:
            return
        name, for_everyone = scenario
        body: dict[str, object] = {"name": name}
        if not for_everyone:
            users = [
                t.user_id
                for t in self.backend.store.tokens()
                if t.client_id == CLIENT_ID and t.kind != "claim"
            ]
            body["scope"] = {"user_id": users[-1]} if users else {"client_id": CLIENT_ID}
        answer = self.http.post(f"{MOCK_URL}/__mock/scenarios", json=body)
        assert answer.status_code == 200, answer.text

    @rule()
    def clear_scenarios(self) -> None:
        assert self.http.delete(f"{MOCK_URL}/__mock/scenarios").status_code == 200

    # -- intents, each after an optional scenario ------------------------------------------
    # (The scenario is an argument of every intent rather than a rule of its own: Hypothesis
    # draws rules with more arguments last, and a rule of its own was never drawn.)

    @rule(before=SCENARIO)
    def credits(self, before: tuple[str, bool] | None) -> None:
        self.apply(before)
        self.cli("credits")

    @rule(before=SCENARIO)
    def status(self, before: tuple[str, bool] | None) -> None:
        self.apply(before)
        self.cli("status")

    @rule(before=SCENARIO, video=st.booleans())
    def upload(self, before: tuple[str, bool] | None, video: bool) -> None:
        self.apply(before)
        self.cli("upload", str(self.clip if video else self.song))

    @rule(before=SCENARIO, text=st.sampled_from(PHRASES))
    def chat(self, before: tuple[str, bool] | None, text: str) -> None:
        self.apply(before)
        self.cli("chat", text)

    @rule(before=SCENARIO, fmt=st.sampled_from(["mp4", "mp3"]))
    def export(self, before: tuple[str, bool] | None, fmt: str) -> None:
        self.apply(before)
        self.deliver(["export", "--format", fmt], self.output(fmt), fmt)

    @rule(before=SCENARIO)
    def convert(self, before: tuple[str, bool] | None) -> None:
        self.apply(before)
        self.deliver(["convert", str(self.song)], self.output("mp4"), "mp4")

    @rule(before=SCENARIO)
    def extract(self, before: tuple[str, bool] | None) -> None:
        self.apply(before)
        self.deliver(["extract", str(self.clip)], self.output("mp3"), "mp3")

    @invariant()
    def no_token_in_a_url(self) -> None:
        tokens = [t.token for t in self.backend.store.tokens()]
        for entry in self.backend.journal.entries():
            assert not any(token in entry.path for token in tokens), entry.id


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("stateful-media")
    return make_song(folder / "song.mp3", 2.0), make_clip(folder / "clip.mp4", 2.0, 160, 120, 5)


def test_the_client_keeps_its_promises_whatever_the_mock_does(media: tuple[Path, Path]) -> None:
    ClientAgainstMock.song, ClientAgainstMock.clip = media
    run_state_machine_as_test(
        ClientAgainstMock,
        settings=settings(
            max_examples=15,
            stateful_step_count=6,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
