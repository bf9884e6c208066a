"""The run's encode cache: each distinct job encoded once, every other one a copy of its file."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from contract.encodes import EncodeCache
from mock_backend.rendering.render_jobs import RenderJob, RenderResult

DRAFT = {"t": [], "d": 4000, "m": {"output": {"format": "mp4"}}}


def job(folder: Path, name: str, draft: dict[str, object] = DRAFT) -> RenderJob:
    clip = folder / f"{name}-clip.mp4"
    clip.write_bytes(b"the same clip")  # another path, the same bytes: the same job
    return RenderJob(draft, {"https://cdn/clip.mp4": clip}, "mp4", folder / f"{name}.mp4")


class Engine:
    def __init__(self, gate: threading.Event | None = None, fail: bool = False) -> None:
        self.jobs: list[RenderJob] = []
        self.gate = gate
        self.fail = fail

    def __call__(self, job: RenderJob, progress: Callable[[float], None]) -> RenderResult:
        self.jobs.append(job)
        if self.gate is not None:
            self.gate.wait(10)
        if self.fail:
            raise RuntimeError("the encoder broke")
        job.out_path.write_bytes(b"frames of " + job.out_path.name.encode())
        return RenderResult(job.out_path, 4.0, job.out_path.stat().st_size, "video/mp4")


def test_a_job_is_encoded_once_and_copied_after(tmp_path: Path) -> None:
    cache, engine = EncodeCache(tmp_path / "kept"), Engine()
    render = cache.around(engine)
    first = render(job(tmp_path, "a"), lambda _: None)
    second = render(job(tmp_path, "b"), lambda _: None)
    other = render(job(tmp_path, "c", {**DRAFT, "d": 2000}), lambda _: None)
    assert [j.out_path.name for j in engine.jobs] == ["a.mp4", "c.mp4"]
    assert second.path == tmp_path / "b.mp4"
    assert second.path.read_bytes() == first.path.read_bytes()
    assert (second.size, second.duration) == (first.size, first.duration)
    assert other.path.read_bytes() == b"frames of c.mp4"
    assert (cache.encoded, cache.copied) == (2, 1)


def test_a_job_asked_while_encoding_waits_for_it(tmp_path: Path) -> None:
    gate = threading.Event()
    cache, engine = EncodeCache(tmp_path / "kept"), Engine(gate)
    render = cache.around(engine)
    results: list[RenderResult] = []
    first = threading.Thread(
        target=lambda: results.append(render(job(tmp_path, "a"), lambda _: None))
    )
    first.start()
    while not engine.jobs:
        threading.Event().wait(0.01)
    second = threading.Thread(
        target=lambda: results.append(render(job(tmp_path, "b"), lambda _: None))
    )
    second.start()
    gate.set()
    first.join(10)
    second.join(10)
    assert len(engine.jobs) == 1
    assert (tmp_path / "b.mp4").read_bytes() == (tmp_path / "a.mp4").read_bytes()


def test_a_failed_encode_is_not_kept(tmp_path: Path) -> None:
    cache = EncodeCache(tmp_path / "kept")
    with pytest.raises(RuntimeError):
        cache.around(Engine(fail=True))(job(tmp_path, "a"), lambda _: None)
    engine = Engine()
    cache.around(engine)(job(tmp_path, "b"), lambda _: None)
    assert len(engine.jobs) == 1  # encoded again, not copied from nothing
