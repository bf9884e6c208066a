"""Render submit, poll, download and cancel."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator

from starlette.responses import FileResponse, StreamingResponse

from ...errors import ApiError
from ...state.accounts import free_plan_export
from ...state.store import RenderRecord
from . import Call, Handler, Result

_RANGE = re.compile(r"^bytes=(?P<start>\d*)-(?P<end>\d*)$")


def _job(call: Call) -> RenderRecord:
    render_id = call.params.path["render_id"]
    record = call.backend.store.get_render(render_id)
    now = call.backend.clock.now()
    lost = record is not None and record.vanish_at is not None and now >= record.vanish_at
    if record is None or record.user_id != call.me.user_id or lost:
        raise ApiError(
            404,
            f"render {render_id} not found; submit a new render",
            data={"field": "path.render_id"},
        )
    return record


def _remember_output(call: Call, record: RenderRecord, view: dict[str, object]) -> None:
    """A completed render joins its session's generated media (once)."""
    if view["status"] != "completed":
        return
    session = call.backend.store.get_session(record.session_id)
    if session is None:
        return
    entry = {
        "render_id": record.render_id,
        "format": record.output_format,
        "output": view["output"],
    }
    for index, known in enumerate(session.generated_media):
        if known.get("render_id") == record.render_id:
            if known == entry:
                return
            # the size arrived after an encode that outlasted the first completed poll's wait
            session.generated_media[index] = entry
            break
    else:
        session.generated_media.append(entry)
    call.backend.store.put_session(session)


async def submit_render(call: Call) -> Result:
    body = call.body
    session = call.session(body["sessionId"], field="body.sessionId")
    user = call.me.user
    if user.plan == "free":
        raise free_plan_export()
    output = body.get("output") or {}
    draft_format = (body["draft"].get("m") or {}).get("output", {}).get("format")
    fmt = output.get("format") or draft_format or "mp4"
    record = call.backend.renders.submit(
        body["id"],
        session,
        body["draft"],
        fmt,
        output.get("quality", "high"),
        slow=call.overrides.slow_render,
        fail=call.overrides.fail_render,
        lose=call.overrides.lose_render,
        break_url=call.overrides.break_output_url,
    )
    return call.backend.renders.view(record, call.base_url)


async def get_render(call: Call) -> Result:
    record = _job(call)
    renders = call.backend.renders
    # one instant for the whole decision: on a fast clock a loaded machine could otherwise let
    # the job turn completed between "is it encoding?" and "settle", and settle would then wait
    # for the encode without the keep-alive spaces (a faketime client at 1000x, whose read
    # timeout is 0.12 s, was seen to give up there)
    with call.backend.clock.held():
        if renders.encoding(record):
            return StreamingResponse(
                _answer_when_written(call, record), media_type="application/json"
            )
        await renders.settle(record)  # answered at once: an encode that finished is noted
        view = renders.view(record, call.base_url)
    _remember_output(call, record, view)
    return view


async def _answer_when_written(call: Call, record: RenderRecord) -> AsyncIterator[bytes]:
    """The completed job's answer once its file is written, so ``output.size`` is real.

    The wait is real time, and a client on a sped-up clock (faketime) has read timeouts sped up
    as much: 120 s of its time is 0.12 s at 1000x. So the headers go at once, and while the file
    is written a space goes every virtual second (between 5 ms and 250 ms of wall time). JSON
    allows whitespace before a value (RFC 8259), so every parser reads the answer unchanged,
    as S3 does while it completes a multipart upload.
    """
    renders, clock = call.backend.renders, call.backend.clock
    rate = clock.rate or 1.0
    every = min(max(1.0 / rate, 0.005), 0.25)
    settled = asyncio.ensure_future(renders.settle(record))
    try:
        while not settled.done():
            yield b" "
            await asyncio.wait([settled], timeout=every)
        settled.result()
    finally:
        if not settled.done():  # the client hung up: stop waiting on its behalf
            settled.cancel()
    view = renders.view(record, call.base_url)
    _remember_output(call, record, view)
    yield json.dumps(view, separators=(",", ":")).encode()


async def cancel_render(call: Call) -> Result:
    record = _job(call)
    call.backend.renders.cancel(record)
    return call.backend.renders.view(record, call.base_url)


async def download_render(call: Call) -> Result:
    record = _job(call)
    # waits (bounded, off the event loop) when virtual time has outrun the encoder
    path, content_type = await call.backend.renders.output_file(record)
    size = path.stat().st_size
    # not a contract parameter (standard HTTP), so read from the request itself
    wanted = call.request.headers.get("range")
    if wanted:
        found = _RANGE.match(wanted.strip())
        start = int(found["start"]) if found and found["start"] else None
        end = int(found["end"]) if found and found["end"] else None
        if (
            found is None
            or (start is None and end is None)
            or (start is not None and start >= size)
            or (start is not None and end is not None and end < start)
        ):
            raise ApiError(
                416,
                f"range {wanted} is outside the file ({size} bytes)",
                data={"field": "header.Range"},
            )
    return FileResponse(
        path,
        media_type=content_type,
        filename=f"{record.render_id}.{record.output_format}",
    )


HANDLERS = {
    "submitRender": Handler(submit_render),
    "getRender": Handler(get_render),
    "downloadRender": Handler(download_render),
    "cancelRender": Handler(cancel_render),
}
