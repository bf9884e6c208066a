"""Fixtures for the reference client's tests: the scripted backend (`backend.py`), a fake
clock, a capturing console, settings in a temporary folder, and a client factory."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from clients_under_test.reference import Console, NemoClient, Settings
from clients_under_test.reference.attribution import load_skill, resolve_skill_path

from .backend import API, WEB, Backend, FakeClock


class Output:
    """What the client showed: ``out`` (stdout), ``err`` (stderr) and both together."""

    def __init__(self) -> None:
        self.out_stream = io.StringIO()
        self.err_stream = io.StringIO()

    @property
    def out(self) -> str:
        return self.out_stream.getvalue()

    @property
    def err(self) -> str:
        return self.err_stream.getvalue()

    @property
    def all(self) -> str:
        return self.out + self.err

    def console(self, *, verbose: bool = False) -> Console:
        return Console(self.out_stream, self.err_stream, verbose=verbose, tty=False)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def backend(clock: FakeClock) -> Backend:
    return Backend(clock)


@pytest.fixture
def output() -> Output:
    return Output()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        config_dir=tmp_path / "config" / "nemovideo",
        home=tmp_path / "home",
        api_url=API,
        web_url=WEB,
    )


MakeClient = Callable[..., NemoClient]


@pytest.fixture
def make_client(
    backend: Backend, clock: FakeClock, settings: Settings, output: Output
) -> Iterator[MakeClient]:
    opened: list[httpx.Client] = []

    def make(*, skill: str = "music", verbose: bool = False, **changes: Any) -> NemoClient:
        http = httpx.Client(transport=backend.transport())
        opened.append(http)
        chosen = Settings(**{**settings.__dict__, **changes})
        return NemoClient(
            http,
            clock,
            settings=chosen,
            console=output.console(verbose=verbose),
            skill=load_skill(resolve_skill_path(skill)),
        )

    yield make
    for http in opened:
        http.close()


@pytest.fixture
def client(make_client: MakeClient) -> NemoClient:
    return make_client()
