from __future__ import annotations

import asyncio
import itertools
import json
import random
from contextlib import aclosing
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from mock_backend.agent.events import EMPTY_BYTES, HEARTBEAT_BYTES
from mock_backend.agent.planning import (
    AgentTiming,
    CallStep,
    ResponseStep,
    RunPlan,
    SessionView,
    TextStep,
    UploadView,
    plan_run,
)
from mock_backend.agent.stream import (
    InvalidStreamConfig,
    Run,
    RunOutcome,
    StreamError,
    StreamFaults,
    StreamSettings,
)
from mock_backend.state.clock import Clock

CLIP = UploadView("http://cdn.test/f3/clip.mp4", "clip.mp4", "video", 240.5, 1920, 1080)
TICK = 0.25  # virtual seconds per manual-clock step


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def generation(seed: int = 5, **timing: Any) -> RunPlan:
    quiet = {"trailing_issue_probability": 0.0, **timing}
    message = "generate a 10 second video of a city timelapse"
    return plan_run(message, SessionView(), random.Random(seed), AgentTiming(**quiet))


def edit(seed: int = 1, *, silent: bool = False) -> RunPlan:
    timing = AgentTiming(silent_edit_probability=float(silent), trailing_issue_probability=0.0)
    return plan_run("audio only", SessionView(uploads=[CLIP]), random.Random(seed), timing)


class Recorder:
    """on_apply / on_finish callbacks that remember what they were given."""

    def __init__(self) -> None:
        self.drafts: list[dict[str, Any]] = []
        self.outcomes: list[RunOutcome] = []

    def make(self, plan: RunPlan, clock: Clock, **kwargs: Any) -> Run:
        return Run(
            plan,
            clock=clock,
            rng=random.Random(11),
            on_apply=self.drafts.append,
            on_finish=self.outcomes.append,
            **kwargs,
        )


async def play(
    run: Run, clock: Clock, *, listen: bool = True, wall_limit: float = 10.0
) -> list[tuple[float, bytes]]:
    """Start ``run``, drive a manual clock in small steps, return (virtual time, chunk) pairs."""
    received: list[tuple[float, bytes]] = []
    stream = run.listen() if listen else None
    run.start()

    async def consume() -> None:
        assert stream is not None
        async with aclosing(stream) as chunks:
            async for chunk in chunks:
                received.append((clock.now(), chunk))

    with anyio.fail_after(wall_limit):
        async with anyio.create_task_group() as tg:
            if stream is not None:
                tg.start_soon(consume)
            while run.outcome is None:
                clock.advance(TICK)
                for _ in range(4):
                    await anyio.lowlevel.checkpoint()
        await run.done
    return received


def payloads(received: list[tuple[float, bytes]]) -> list[tuple[float, bytes]]:
    """Split chunks into ``data:`` payloads (heartbeats included)."""
    found = []
    for at, chunk in received:
        for line in chunk.split(b"\n\n")[:-1]:
            assert line.startswith(b"data: ")
            found.append((at, line[6:]))
    return found


def agent_events(received: list[tuple[float, bytes]]) -> list[tuple[float, dict[str, Any]]]:
    found = []
    for at, body in payloads(received):
        if body and body != b'{"type":"heartbeat"}':
            found.append((at, json.loads(body)))
    return found


def other_tasks() -> set[asyncio.Task[Any]]:
    current = asyncio.current_task()
    return {task for task in asyncio.all_tasks() if task is not current}


# --- a whole run -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_15_minute_generation_on_a_fast_clock() -> None:
    clock = Clock(10_000)
    recorder = Recorder()
    plan = generation(generate=(880.0, 899.0))
    run = recorder.make(plan, clock)
    before = other_tasks()
    received: list[bytes] = []
    stream = run.listen()
    run.start()
    with anyio.fail_after(5):
        async with aclosing(stream) as chunks:
            async for chunk in chunks:
                received.append(chunk)
        outcome = await run.done
    assert outcome.status == "completed"
    # a heartbeat's cadence late by as much as the clock's timers woke late: at 10,000x a busy
    # machine's 2 ms is 20 virtual seconds, noise the clock measures (`Clock.lateness`)
    assert 880 <= outcome.elapsed <= 899 + 15 + clock.lateness
    assert len(recorder.drafts) == 2
    assert recorder.outcomes == [outcome]
    assert recorder.drafts[-1] == plan.final_draft
    beats = sum(chunk in (HEARTBEAT_BYTES, EMPTY_BYTES) for chunk in received)
    assert beats >= 20  # timer jitter at 10 000x blurs the cadence; the manual clock checks it
    assert other_tasks() == before


@pytest.mark.anyio
async def test_heartbeats_follow_the_cadence_between_steps() -> None:
    clock = Clock(None)
    recorder = Recorder()
    plan = generation()
    run = recorder.make(plan, clock)
    received = await play(run, clock)
    outcome = recorder.outcomes[0]
    times = [outcome.started_at] + [at for at, _ in received]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) <= 15 + TICK
    beat_gaps = [
        gap
        for gap, (_, chunk) in zip(gaps, received, strict=True)
        if chunk in (HEARTBEAT_BYTES, EMPTY_BYTES)
    ]
    assert len(beat_gaps) >= plan.duration // 15 - len(plan.steps)
    assert all(15 <= gap <= 15 + TICK for gap in beat_gaps)
    # each event carries the virtual time it was sent, which is the plan's time for its step
    sent = agent_events(received)
    steps = [s for s in plan.steps if isinstance(s, TextStep | CallStep | ResponseStep)]
    assert len(sent) == len(steps)
    for (at, event), step in zip(sent, steps, strict=True):
        assert event["timestamp"] == pytest.approx(at, abs=TICK)
        assert event["timestamp"] - outcome.started_at == pytest.approx(step.at, abs=TICK)
        assert event["invocationId"] == run.invocation_id
    assert outcome.elapsed == pytest.approx(plan.duration, abs=TICK)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("probability", "expect"), [(0.0, {HEARTBEAT_BYTES}), (1.0, {EMPTY_BYTES})]
)
async def test_empty_lines_stand_in_for_heartbeats(probability: float, expect: set[bytes]) -> None:
    clock = Clock(None)
    settings = StreamSettings(empty_line_probability=probability)
    received = await play(Recorder().make(generation(), clock, settings=settings), clock)
    beats = {chunk for _, chunk in received if chunk in (HEARTBEAT_BYTES, EMPTY_BYTES)}
    assert beats == expect


@pytest.mark.anyio
async def test_some_heartbeats_are_empty_lines_by_default() -> None:
    clock = Clock(None)
    received = await play(Recorder().make(generation(), clock), clock)
    chunks = [chunk for _, chunk in received]
    assert HEARTBEAT_BYTES in chunks
    assert EMPTY_BYTES in chunks


@pytest.mark.anyio
async def test_the_stream_shows_the_plan_in_order_and_closes() -> None:
    clock = Clock(None)
    plan = edit()
    received = await play(Recorder().make(plan, clock), clock)
    sent = [event for _, event in agent_events(received)]
    kinds = [next(iter(event["content"]["parts"][0])) for event in sent]
    assert kinds == ["functionCall", "functionResponse", "text"]
    assert (
        sent[1]["content"]["parts"][0]["functionResponse"]["response"]["draft"] == plan.final_draft
    )
    assert sent[2]["content"]["parts"][0]["text"] == plan.texts[0]


@pytest.mark.anyio
async def test_legacy_shape() -> None:
    clock = Clock(None)
    received = await play(
        Recorder().make(edit(), clock, settings=StreamSettings(shape="legacy")), clock
    )
    assert [event["type"] for _, event in agent_events(received)] == [
        "tool_call",
        "tool_result",
        "text",
    ]


@pytest.mark.anyio
async def test_a_silent_edit_sends_no_text() -> None:
    clock = Clock(None)
    recorder = Recorder()
    received = await play(recorder.make(edit(silent=True), clock), clock)
    parts = [event["content"]["parts"][0] for _, event in agent_events(received)]
    assert not any("text" in part for part in parts)
    assert len(recorder.drafts) == 1


@pytest.mark.anyio
async def test_same_seed_same_bytes() -> None:
    streams = []
    for _ in range(2):
        clock = Clock(None)
        received = await play(Recorder().make(generation(), clock), clock)
        streams.append(b"".join(chunk for _, chunk in received))
    assert streams[0] == streams[1]


# --- listeners come and go -------------------------------------------------------------------


@pytest.mark.anyio
async def test_disconnect_mid_run_the_run_still_completes() -> None:
    clock = Clock(None)
    recorder = Recorder()
    plan = generation()
    run = recorder.make(plan, clock)
    stream = run.listen()
    run.start()
    heard: list[bytes] = []

    async def hear_one_event() -> None:
        async with aclosing(stream) as chunks:  # leaving the block: the client went away
            async for chunk in chunks:
                heard.append(chunk)
                if chunk not in (HEARTBEAT_BYTES, EMPTY_BYTES):
                    return

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(hear_one_event)
            while not heard or heard[-1] in (HEARTBEAT_BYTES, EMPTY_BYTES):
                clock.advance(1.0)
                await anyio.lowlevel.checkpoint()
        assert not run.listening
        assert run.outcome is None
        assert recorder.drafts == []
        while run.outcome is None:
            clock.advance(5.0)
            await anyio.lowlevel.checkpoint()
        outcome = await run.done
    assert outcome.status == "completed"
    assert recorder.drafts[-1] == plan.final_draft
    assert recorder.outcomes == [outcome]


@pytest.mark.anyio
async def test_a_cancelled_consumer_detaches() -> None:
    clock = Clock(None)
    recorder = Recorder()
    run = recorder.make(edit(), clock)
    stream = run.listen()
    run.start()
    got: list[bytes] = []

    async def consume() -> None:
        async for chunk in stream:
            got.append(chunk)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            await anyio.lowlevel.checkpoint()
            tg.cancel_scope.cancel()  # what Starlette does when the client disconnects
        assert not run.listening
        while run.outcome is None:
            clock.advance(1.0)
            await anyio.lowlevel.checkpoint()
        await run.done
    assert recorder.outcomes[0].status == "completed"
    assert len(recorder.drafts) == 1


@pytest.mark.anyio
async def test_a_run_without_listener_completes() -> None:
    clock = Clock(None)
    recorder = Recorder()
    await play(recorder.make(generation(), clock), clock, listen=False)
    assert [o.status for o in recorder.outcomes] == ["completed"]
    assert len(recorder.drafts) == 2


@pytest.mark.anyio
async def test_listening_after_the_end_gives_nothing() -> None:
    clock = Clock(None)
    run = Recorder().make(edit(), clock)
    await play(run, clock, listen=False)
    with anyio.fail_after(1):
        assert [chunk async for chunk in run.listen()] == []


@pytest.mark.anyio
async def test_misuse_is_refused() -> None:
    clock = Clock(None)
    run = Recorder().make(edit(), clock)
    with pytest.raises(StreamError):
        _ = run.done
    stream = run.listen()
    with pytest.raises(StreamError):
        run.listen()
    await play_without_listener_after(run, clock)
    with pytest.raises(StreamError):
        run.start()
    await stream.aclose()


async def play_without_listener_after(run: Run, clock: Clock) -> None:
    run.start()
    with anyio.fail_after(5):
        while run.outcome is None:
            clock.advance(1.0)
            await anyio.lowlevel.checkpoint()


# --- the cap, cancellation, and nothing left behind ------------------------------------------


@pytest.mark.anyio
async def test_the_15_minute_cap() -> None:
    clock = Clock(None)
    recorder = Recorder()
    faults = StreamFaults(heartbeats_only_for=800.0)  # plus a 100-300 s generation
    received = await play(recorder.make(generation(), clock, faults=faults), clock)
    (outcome,) = recorder.outcomes
    assert outcome.status == "capped"
    assert outcome.elapsed == pytest.approx(900.0, abs=TICK)
    assert received[-1][0] - outcome.started_at <= 900.0 + TICK
    assert len(recorder.drafts) < 2  # the enhanced draft never landed


@pytest.mark.anyio
async def test_a_shorter_cap_setting() -> None:
    clock = Clock(None)
    recorder = Recorder()
    settings = StreamSettings(max_duration=30.0)
    await play(recorder.make(generation(), clock, settings=settings), clock)
    assert recorder.outcomes[0].status == "capped"
    assert recorder.outcomes[0].elapsed == pytest.approx(30.0, abs=TICK)


@pytest.mark.anyio
async def test_cancel_ends_promptly() -> None:
    clock = Clock(None)
    recorder = Recorder()
    run = recorder.make(generation(), clock)
    before = other_tasks()
    stream = run.listen()
    run.start()
    with anyio.fail_after(2):
        await anyio.lowlevel.checkpoint()
        run.cancel()
        outcome = await run.done
        assert [chunk async for chunk in stream] == []
    assert outcome.status == "cancelled"
    assert recorder.outcomes == [outcome]
    assert other_tasks() == before
    assert clock.pending_sleepers() == 0


@pytest.mark.anyio
async def test_cancel_before_start_reports_once() -> None:
    recorder = Recorder()
    run = recorder.make(edit(), Clock(None))
    run.cancel()
    run.cancel()
    assert [o.status for o in recorder.outcomes] == ["cancelled"]
    assert (await run.done).status == "cancelled"


@pytest.mark.anyio
async def test_cancel_right_after_start_reports_once() -> None:
    clock = Clock(None)
    recorder = Recorder()
    run = recorder.make(edit(), clock)
    before = other_tasks()
    stream = run.listen()
    run.start()
    run.cancel()  # before the task ever ran: its coroutine will never execute
    run.cancel()
    with anyio.fail_after(2):
        assert (await run.done).status == "cancelled"
        assert [chunk async for chunk in stream] == []
    assert [o.status for o in recorder.outcomes] == ["cancelled"]
    assert other_tasks() == before


@pytest.mark.anyio
async def test_nothing_is_left_behind_after_many_runs() -> None:
    clock = Clock(None)
    before = other_tasks()
    runs = [Recorder().make(edit(seed), clock) for seed in range(20)]
    streams = [run.listen() for run in runs[:10]]
    for run in runs:
        run.start()
    with anyio.fail_after(5):
        while any(run.outcome is None for run in runs):
            clock.advance(1.0)
            await anyio.lowlevel.checkpoint()
        for stream in streams:
            async with aclosing(stream) as chunks:
                assert [chunk async for chunk in chunks]
        for run in runs:
            await run.done
    assert other_tasks() == before
    assert clock.pending_sleepers() == 0
    assert not any(run.listening for run in runs)


@pytest.mark.anyio
async def test_a_failing_on_apply_fails_the_run_loudly() -> None:
    clock = Clock(None)
    outcomes: list[RunOutcome] = []

    def broken(draft: dict[str, Any]) -> None:
        raise RuntimeError("store is down")

    run = Run(edit(), clock=clock, rng=random.Random(1), on_apply=broken, on_finish=outcomes.append)
    received: list[bytes] = []
    stream = run.listen()
    run.start()
    with anyio.fail_after(5):
        while run.outcome is None:
            clock.advance(1.0)
            await anyio.lowlevel.checkpoint()
        received = [chunk async for chunk in stream]
        with pytest.raises(RuntimeError, match="store is down"):
            await run.done
    assert outcomes[0].status == "failed"
    assert "store is down" in (outcomes[0].error or "")
    assert received[-1] == b'data: {"error":"internal error"}\n\n'


# --- scripted faults -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_fault_heartbeats_only() -> None:
    clock = Clock(None)
    recorder = Recorder()
    faults = StreamFaults(heartbeats_only_for=600.0)
    received = await play(recorder.make(edit(), clock, faults=faults), clock)
    start = recorder.outcomes[0].started_at
    early = [chunk for at, chunk in received if at - start < 600.0]
    assert len(early) >= 39
    assert set(early) <= {HEARTBEAT_BYTES, EMPTY_BYTES}
    events = agent_events(received)
    assert len(events) == 3
    assert all(at - start >= 600.0 for at, _ in events)
    assert recorder.outcomes[0].status == "completed"


@pytest.mark.anyio
async def test_fault_stall() -> None:
    clock = Clock(None)
    recorder = Recorder()
    plan = edit()
    faults = StreamFaults(stall_after=5.0, stall_for=120.0)
    received = await play(recorder.make(plan, clock, faults=faults), clock)
    start = recorder.outcomes[0].started_at
    times = [at - start for at, _ in received]
    assert not [t for t in times if 5.0 + TICK < t < 125.0]
    assert any(t >= 125.0 for t in times)
    assert recorder.outcomes[0].elapsed == pytest.approx(plan.duration + 120.0, abs=TICK)
    assert len(recorder.drafts) == 1


@pytest.mark.anyio
async def test_fault_cut_in_the_middle_of_an_event() -> None:
    clock = Clock(None)
    recorder = Recorder()
    faults = StreamFaults(cut_at_event=1)  # the function response, carrying the draft
    received = await play(recorder.make(edit(), clock, faults=faults), clock)
    last = received[-1][1]
    assert last.startswith(b"data: {")
    assert not last.endswith(b"\n\n")
    with pytest.raises(json.JSONDecodeError):
        json.loads(last[6:])
    assert len(agent_events(received[:-1])) == 1
    # the run itself went on to the end
    assert recorder.outcomes[0].status == "completed"
    assert len(recorder.drafts) == 1


@pytest.mark.anyio
async def test_fault_malformed_line() -> None:
    clock = Clock(None)
    faults = StreamFaults(malformed_at_event=0)
    received = await play(Recorder().make(edit(), clock, faults=faults), clock)
    bodies = [body for _, body in payloads(received) if body]
    bad = [body for body in bodies if not is_json(body)]
    assert len(bad) == 1
    assert len([body for body in bodies if is_json(body) and b"invocationId" in body]) == 3


def is_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except json.JSONDecodeError:
        return False
    return True


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("shape", "expected"),
    [("adk", {"error": "boom"}), ("legacy", {"type": "error", "message": "boom"})],
)
async def test_fault_error_event(shape: str, expected: dict[str, str]) -> None:
    clock = Clock(None)
    recorder = Recorder()
    faults = StreamFaults(error_at_event=1, error_message="boom")
    settings = StreamSettings(shape=shape)  # type: ignore[arg-type]
    received = await play(recorder.make(edit(), clock, faults=faults, settings=settings), clock)
    events = agent_events(received)
    assert events[-1][1] == expected
    assert len(events) == 2  # the call, then the error; the stream closed after it
    (outcome,) = recorder.outcomes
    assert (outcome.status, outcome.error) == ("failed", "boom")
    assert recorder.drafts == []


@pytest.mark.anyio
async def test_fault_buffered() -> None:
    clock = Clock(None)
    recorder = Recorder()
    received = await play(
        recorder.make(generation(), clock, faults=StreamFaults(buffered=True)), clock
    )
    assert len(received) == 1
    at, chunk = received[0]
    assert at == pytest.approx(recorder.outcomes[0].ended_at, abs=TICK)
    assert len(agent_events(received)) == 6
    assert HEARTBEAT_BYTES in chunk


@pytest.mark.anyio
async def test_fault_indexes_are_clamped_to_the_last_event() -> None:
    clock = Clock(None)
    recorder = Recorder()
    faults = StreamFaults(error_at_event=99)
    received = await play(recorder.make(edit(), clock, faults=faults), clock)
    assert agent_events(received)[-1][1] == {"error": faults.error_message}
    assert recorder.outcomes[0].status == "failed"
    assert len(recorder.drafts) == 1  # the response before the error landed


@pytest.mark.parametrize(
    "fields",
    [
        {"heartbeats_only_for": -1},
        {"stall_after": "soon"},
        {"stall_for": float("nan")},
        {"cut_at_event": -1},
        {"error_at_event": 1.5},
        {"malformed_at_event": True},
        {"error_message": ""},
        {"buffered": "yes"},
    ],
)
def test_bad_faults_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(InvalidStreamConfig) as caught:
        StreamFaults(**fields)
    assert isinstance(caught.value, TypeError)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    "fields",
    [
        {"shape": "xml"},
        {"heartbeat_every": 0},
        {"empty_line_probability": 1.5},
        {"max_duration": -900},
    ],
)
def test_bad_settings_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(InvalidStreamConfig):
        StreamSettings(**fields)
