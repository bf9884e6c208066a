"""``/run_sse``: hands the message to the agent's runs (`agent.runs.Runs`) and streams the run.

Everything that can fail is checked before the first byte (token, session, credits), so those
errors arrive as the JSON envelope.
"""

from __future__ import annotations

from ..sse import EventStreamResponse
from . import Call, Handler, Result


async def run_sse(call: Call) -> Result:
    session = call.session(call.body["session_id"], field="body.session_id")
    message = "\n".join(part["text"] for part in call.body["new_message"]["parts"])
    entry = call.request.scope.get("state", {}).get("journal_entry")

    def note(text: str) -> None:
        if entry is not None:  # the suite judges from these (a duplicate send, a stall)
            entry.note(text)

    scripted = call.overrides
    stream = call.backend.runs.start(
        session,
        call.me.user,
        message,
        note,
        faults=scripted.stream,
        silent_close=scripted.silent_close,
        trailing_issue=scripted.trailing_issue,
        legacy_shape=scripted.legacy_shape,
    )
    # cut inside an event: aborted, so the client sees a dropped connection, not a clean end
    return EventStreamResponse(stream, abort_if_cut=True)


HANDLERS = {"runSse": Handler(run_sse)}
