"""``/run_sse``: hands the message to the emulated agent and streams the run.

Everything that can fail is checked before the first byte (token, session, credits), so those
errors arrive as the JSON envelope. The run then lives on its own: a client that disconnects
does not stop it, its draft change still lands, and the frozen credits are settled at its end.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import AsyncGenerator
from typing import Any

from ...agent.planning import AgentTiming, SessionView, plan_run
from ...agent.stream import Run, RunOutcome, StreamFaults, StreamSettings
from ...agent.timeline import UploadView
from ...errors import StreamCut
from ..sse import EventStreamResponse
from . import Call, Handler, Result


async def run_sse(call: Call) -> Result:
    backend = call.backend
    session = call.session(call.body["session_id"], field="body.session_id")
    user = call.me.user
    message = "\n".join(part["text"] for part in call.body["new_message"]["parts"])
    view = SessionView(
        draft=copy.deepcopy(session.draft),
        uploads=[
            UploadView(
                cdn_url=u.cdn_url,
                filename=u.filename,
                file_type=u.file_type,  # type: ignore[arg-type]
                duration=u.duration,
                width=u.width,
                height=u.height,
            )
            for u in session.uploads
        ],
        language=session.language,
    )
    timing = AgentTiming()
    if call.overrides.get("silent_close"):
        timing = dataclasses.replace(timing, silent_edit_probability=1.0)
    if call.overrides.get("trailing_issue"):
        timing = dataclasses.replace(timing, trailing_issue_probability=1.0)
    plan = plan_run(message, view, backend.rng.stream("agent", session.session_id), timing)
    backend.accounts.freeze(user, plan.cost)
    run_no = backend.next_id("run", session.session_id)
    if session.active_runs > 0:
        session.duplicate_sends.append({"run": run_no, "at": backend.clock.now()})
        entry = call.request.scope.get("state", {}).get("journal_entry")
        if entry is not None:
            entry.note("duplicate send: a run on this session was still going")
    session.active_runs += 1
    session.runs += 1
    backend.store.put_session(session)

    generation = backend.generation

    def on_apply(draft: dict[str, Any]) -> None:
        if backend.generation != generation:
            return  # the mock was reset meanwhile: this session no longer exists
        session.draft = draft
        backend.store.put_session(session)

    def on_finish(outcome: RunOutcome) -> None:
        backend.runs.discard(run)
        if backend.generation != generation:
            return
        charged = plan.cost if outcome.status == "completed" or outcome.applied else 0
        backend.accounts.settle(user, plan.cost, charged)
        session.active_runs = max(0, session.active_runs - 1)
        backend.store.put_session(session)

    shape = backend.session_shapes.get(session.session_id, backend.settings.event_shape)
    if call.overrides.get("legacy_shape"):
        shape = "legacy"
    faults = backend.faults_for_run(session.session_id)
    if "stream" in call.overrides:
        faults = StreamFaults(**call.overrides["stream"])
    if faults is not None and faults.stall_after is not None and faults.stall_for > 0:
        entry = call.request.scope.get("state", {}).get("journal_entry")
        if entry is not None:  # the suite judges whether the stall reached the client
            entry.note(f"stall at +{faults.stall_after:g} s for {faults.stall_for:g} s")
    run = Run(
        plan,
        clock=backend.clock,
        rng=backend.rng.stream("run", session.session_id, run_no),
        on_apply=on_apply,
        on_finish=on_finish,
        settings=StreamSettings(
            shape="legacy" if shape == "legacy" else "adk",
            heartbeat_every=backend.settings.heartbeat_every,
        ),
        faults=faults,
    )
    backend.runs.add(run)
    stream = run.listen()
    run.start()
    return EventStreamResponse(_abort_when_cut(stream))


async def _abort_when_cut(stream: AsyncGenerator[bytes, None]) -> AsyncGenerator[bytes, None]:
    """Pass the run's bytes on; a stream that stops inside an event is aborted, not closed, so
    the client sees a dropped connection (as over a real network), not a clean end."""
    last = b"\n\n"
    try:
        async for chunk in stream:
            last = chunk or last
            yield chunk
    finally:
        await stream.aclose()
    if not last.endswith(b"\n\n"):
        raise StreamCut("the stream was cut in the middle of an event (scripted fault)")


HANDLERS = {"runSse": Handler(run_sse)}
