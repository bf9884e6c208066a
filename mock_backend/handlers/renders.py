"""Render submit, poll, download and cancel."""

from __future__ import annotations

import re

from starlette.responses import FileResponse

from ..errors import ApiError
from ..store import RenderRecord
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
    if session is None or any(
        m.get("render_id") == record.render_id for m in session.generated_media
    ):
        return
    session.generated_media.append(
        {"render_id": record.render_id, "format": record.output_format, "output": view["output"]}
    )
    call.backend.store.put_session(session)


async def submit_render(call: Call) -> Result:
    body = call.body
    session = call.session(body["sessionId"], field="body.sessionId")
    user = call.me.user
    if user.plan == "free":
        raise ApiError(
            402,
            "Export is not available on the free plan. Register or upgrade your plan to unlock "
            "export.",
            data={"reason": "plan"},
        )
    output = body.get("output") or {}
    draft_format = (body["draft"].get("m") or {}).get("output", {}).get("format")
    fmt = output.get("format") or draft_format or "mp4"
    record = call.backend.renders.submit(
        body["id"],
        session,
        body["draft"],
        fmt,
        output.get("quality", "high"),
        slow=bool(call.overrides.get("slow_render")),
        fail=bool(call.overrides.get("fail_render")),
        lose=bool(call.overrides.get("lose_render")),
        break_url=bool(call.overrides.get("break_output_url")),
    )
    return call.backend.renders.view(record, call.base_url)


async def get_render(call: Call) -> Result:
    record = _job(call)
    view = call.backend.renders.view(record, call.base_url)
    _remember_output(call, record, view)
    return view


async def cancel_render(call: Call) -> Result:
    record = _job(call)
    call.backend.renders.cancel(record)
    return call.backend.renders.view(record, call.base_url)


async def download_render(call: Call) -> Result:
    record = _job(call)
    path, content_type = call.backend.renders.output_file(record)
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
