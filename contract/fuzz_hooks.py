"""schemathesis hooks of `nemo-contract provider` (loaded through ``SCHEMATHESIS_HOOKS``).

Generated ids name nothing on the server, so the operations that take a session or a render
would answer 1002 or 404 to almost every case and never be tested past their first check.
Every other case of those operations is pointed at the provider's own prepared objects
(passed in the environment by `contract.fuzzing`): the chat, the claim token and the render
submit get the prepared session (and its task), and cancel gets a render submitted just before
it through the documented API (a render can be cancelled once, and on a fast server one
submitted before the run has finished long before cancel is fuzzed). The other half keeps
whatever schemathesis generated, so the refusals are still fuzzed.
"""

from __future__ import annotations

import itertools
import json
import os
import uuid
from typing import Any

import httpx
import schemathesis

from contract.server_api import ATTRIBUTION

_turns = itertools.count()
_FIXTURE: dict[str, Any] = json.loads(os.environ.get("NEMO_PROVIDER_FIXTURE") or "{}")
_BODY_FIELDS = {  # operation path → body field → fixture key
    "/run_sse": {"session_id": "session_id"},
    "/api/auth/claim-token": {"session_id": "session_id", "task_id": "task_id"},
    "/api/render/proxy/lambda": {"sessionId": "session_id", "draft": "draft"},
}
_CANCEL = "/api/render/proxy/lambda/{render_id}/cancel"


def _fresh_render() -> str | None:
    base, token = os.environ.get("NEMO_PROVIDER_URL"), os.environ.get("NEMO_PROVIDER_TOKEN")
    if not (base and token and _FIXTURE):
        return None
    render_id = f"render_cancel_{uuid.uuid4().hex[:12]}"
    headers = {"Authorization": f"Bearer {token}", **ATTRIBUTION}
    body = {"id": render_id, "sessionId": _FIXTURE["session_id"], "draft": _FIXTURE["draft"]}
    try:
        answer = httpx.post(
            f"{base}/api/render/proxy/lambda", json=body, headers=headers, timeout=30
        )
        return render_id if answer.json().get("code") in (None, 0) else None
    except (httpx.HTTPError, ValueError):
        return None


@schemathesis.hook
def before_call(context: Any, case: Any, **kwargs: Any) -> None:
    if not _FIXTURE or next(_turns) % 2:
        return
    path = case.operation.path
    if path == _CANCEL and case.path_parameters:
        fresh = _fresh_render()
        if fresh is not None:
            case.path_parameters["render_id"] = fresh
    elif path in _BODY_FIELDS and isinstance(case.body, dict):
        for field, key in _BODY_FIELDS[path].items():
            case.body[field] = _FIXTURE[key]
        if path == "/api/render/proxy/lambda":  # render ids are single-use: the example's is
            case.body["id"] = f"render_fuzz_{uuid.uuid4().hex[:12]}"  # taken after one case
