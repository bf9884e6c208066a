"""Sessions, their state, and uploads into them."""

from __future__ import annotations

import shutil

from ...media.uploads import receive_multipart, register_urls, store_received
from ...openapi.limits import read_body
from ...openapi.validation import check_body, media_type
from ...state.store import SessionRecord
from . import Call, Handler, Result


async def create_session(call: Call) -> Result:
    backend, me = call.backend, call.me
    n = backend.next_id("session", me.user_id)
    session = SessionRecord(
        session_id="ses_" + backend.rng.token_hex(6, "session", me.user_id, n),
        task_id="task_" + backend.rng.token_hex(4, "task", me.user_id, n),
        task_name=call.body["task_name"],
        language=call.body.get("language", "en"),
        user_id=me.user_id,
        created_at=backend.clock.now(),
    )
    backend.store.put_session(session)
    return {"task_id": session.task_id, "session_id": session.session_id, "user_id": me.user_id}


async def get_session_state(call: Call) -> Result:
    session = call.session(call.params.path["session_id"])
    canvas = session.draft.get("m", {}).get("canvas") or {"w": 1920, "h": 1080}
    return {
        "session_id": session.session_id,
        "task_id": session.task_id,
        "task_name": session.task_name,
        "user_id": session.user_id,
        "state": {
            "draft": session.draft,
            "video_infos": [u.public() for u in session.uploads],
            "canvas_config": {"w": canvas.get("w", 1920), "h": canvas.get("h", 1080)},
            "generated_media": list(session.generated_media),
        },
    }


async def upload_files(call: Call) -> Result:
    backend, request = call.backend, call.request
    session = call.session(call.params.path["session_id"])
    content_type = request.headers.get("content-type")
    if media_type(content_type) == "multipart/form-data" and (
        "multipart/form-data" in call.operation.body_schemas
    ):
        n = backend.next_id("upload", session.session_id)
        folder = backend.uploads_dir / f"{session.session_id}-{n}"
        length = request.headers.get("content-length")
        try:
            received = await receive_multipart(
                request.stream(),
                content_type or "",
                int(length) if length and length.isdigit() else None,
                folder,
                backend.settings.max_upload_bytes,
            )
            ids = [_file_id(call, session, n, i) for i in range(len(received))]
            records = await store_received(received, ids, call.base_url, clock=backend.clock)
        except BaseException:  # refused, malformed, cut off or timed out: nothing stays behind
            shutil.rmtree(folder, ignore_errors=True)
            raise
    else:
        raw = await read_body(request, backend.limits.json_body_bytes)
        body = check_body(
            backend.spec, call.operation, content_type, raw, max_depth=backend.limits.json_depth
        )
        n = backend.next_id("upload", session.session_id)
        ids = [_file_id(call, session, n, i) for i in range(len(body["urls"]))]
        records = register_urls(body["urls"], ids)
    # read again: the body took awaits to arrive, and a run may have changed the session (or a
    # rule forgotten it) meanwhile; putting back the one read first would undo that
    session = call.session(session.session_id)
    session.uploads.extend(records)
    backend.store.put_session(session)
    return {"files": [r.public() for r in records]}


def _file_id(call: Call, session: SessionRecord, n: int, i: int) -> str:
    return "f_" + call.backend.rng.token_hex(6, "file", session.session_id, n, i)


HANDLERS = {
    "createSession": Handler(create_session),
    "getSessionState": Handler(get_session_state),
    "uploadFiles": Handler(upload_files, reads_body=True),
}
