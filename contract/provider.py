"""Provider conformance: is a server (a real backend, a recording, a mock) true to openapi.yaml?

Two parts, both against any base URL:

1. schemathesis, every phase and every check that the server's error-status profile allows
   (see tests/mock_backend/test_conformance.py for why three checks clash with HTTP-200
   business codes), with the contract's own settings (contract/schemathesis.toml), on objects
   prepared first so that every operation can answer 2xx, and the 2xx cases counted per
   operation (`contract.fuzzing`, `contract.fuzz_hooks`);
2. behaviour checks schemathesis cannot express: the SSE stream (every event validates against
   the contract's event schema, heartbeats keep coming, the stream just closes at the end), the
   render lifecycle (status only moves forward, progress never falls), credit consistency
   (available + frozen = total, nothing negative, before, during and after a run) and the
   refusals the documents name (400 without X-Client-Id, 402 without attribution, 1002 for an
   unknown session, 422 for a body that is not JSON), whatever the error-status profile.

Results go to JUnit XML: one test case per part and check.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from mock_backend.agent.sse_frames import SseParser
from mock_backend.openapi.spec import load_spec

from .fuzzing import prepare, run_schemathesis
from .server_api import Api, CheckResult, ProviderFailure, check_balance, fetch_token, ready_draft

__all__ = [
    "CheckResult",
    "ProviderFailure",
    "behaviour_checks",
    "fetch_token",
    "read_stream",
    "run_provider",
    "run_schemathesis",
]

ORDER = {"pending": 0, "processing": 1, "completed": 2, "failed": 2}


def check_stream(api: Api, max_gap: float, max_wait: float) -> tuple[str, list[dict[str, Any]]]:
    """One agent run on an uploaded song: every event valid, none cut, the stream just ends.
    Returns the balances read before, during (at the first event) and after it, for
    `check_credits` to judge."""
    validator = load_spec().schema_validator("StreamEvent")
    sid, _ = api.session_with_song()
    balances = [api.balance()]
    body = {
        "app_name": "nemo_agent",
        "user_id": "me",
        "session_id": sid,
        "new_message": {
            "parts": [
                {
                    "text": "convert this audio track into a shareable video "
                    "with a waveform visualizer and album art background"
                }
            ]
        },
    }

    def first_event() -> None:
        balances.append(api.balance())

    with api.http.stream(
        "POST",
        "/run_sse",
        json=body,
        timeout=httpx.Timeout(30, read=max_gap),
        headers={**api.headers, "Accept": "text/event-stream"},
    ) as response:
        events, gaps = read_stream(response, validator, max_wait, on_first=first_event)
    balances.append(api.balance())
    if events == 0:
        raise ProviderFailure("the stream closed without a single event")
    return f"{events} events valid; longest gap {max(gaps):.2f} s wall", balances


def check_credits(api: Api, seen: list[dict[str, Any]]) -> str:
    """Every balance consistent (a fresh one, and those read before, during and after the agent
    run), and a run never adds credits."""
    now = check_balance(api.balance())
    for balance in seen:
        check_balance(balance)
    if seen and any(b["total"] > seen[0]["total"] for b in seen[1:]):
        raise ProviderFailure(f"credits grew during a run: {' → '.join(map(str, seen))}")
    during = [b["frozen"] for b in seen[1:-1]]
    run = (
        f"; during a run {seen[0]['total']} → {seen[-1]['total']} (frozen {during})" if seen else ""
    )
    return f"consistent: {now}{run}"


def read_stream(
    response: httpx.Response,
    validator: Any,
    max_wait: float,
    *,
    on_first: Callable[[], None] | None = None,
) -> tuple[int, list[float]]:
    """Read an agent stream to its end: every event valid, none a "done" event, no event cut
    off, no longer than ``max_wait`` seconds (the read timeout of ``response`` bounds each
    gap). Returns the number of events and the wall gaps between chunks."""
    if not response.headers.get("content-type", "").startswith("text/event-stream"):
        raise ProviderFailure(
            f"/run_sse answered {response.headers.get('content-type')}, not text/event-stream"
        )
    parser = SseParser()
    events, gaps = 0, []
    opened = last = time.monotonic()
    for chunk in response.iter_bytes():
        now = time.monotonic()
        gaps.append(now - last)
        last = now
        for frame in parser.feed(chunk):
            if not frame.data:
                continue  # an empty data line: the agent is still working
            try:
                event = json.loads(frame.data)
            except ValueError:
                raise ProviderFailure(f"event {events} is not JSON: {frame.data[:200]!r}") from None
            errors = list(validator.iter_errors(event))
            if errors:
                raise ProviderFailure(f"event {events}: {errors[0].message}: {frame.data[:200]}")
            if isinstance(event, dict) and event.get("type") in ("done", "end"):
                raise ProviderFailure("the stream sent a done event; it must just close")
            events += 1
            if events == 1 and on_first is not None:
                on_first()
        if now - opened > max_wait:
            raise ProviderFailure(f"the stream lasted more than {max_wait:.0f} s")
    if parser.pending:
        raise ProviderFailure(f"the stream ended inside an event: {parser.rest()[:120]!r}")
    return events, gaps


def check_render_lifecycle(api: Api, poll: float, timeout: float) -> str:
    """A render of a ready draft, polled to its end: status only moves forward (pending →
    processing → completed or failed), progress never falls, the mirror in ``data`` agrees."""
    sid, upload = api.session_with_song()
    draft = ready_draft(upload)
    render_id = f"render_{int(time.time() * 1000)}"
    job = api.call(
        "POST",
        "/api/render/proxy/lambda",
        json={
            "id": render_id,
            "sessionId": sid,
            "draft": draft,
            "output": {"format": "mp4", "quality": "high"},
        },
    )
    seen = [(job["status"], job["progress"])]
    deadline = time.monotonic() + timeout
    while seen[-1][0] not in ("completed", "failed"):
        if time.monotonic() > deadline:
            raise ProviderFailure(f"render still {seen[-1][0]} after {timeout:.0f} s: {seen}")
        time.sleep(poll)
        body = api.call("GET", f"/api/render/proxy/lambda/{render_id}")
        status, progress = body["status"], body["progress"]
        mirror = body.get("data") or {}
        if mirror.get("status") not in (None, status):
            raise ProviderFailure(f"top-level status {status} but data.status {mirror['status']}")
        prev_status, prev_progress = seen[-1]
        if ORDER[status] < ORDER[prev_status]:
            raise ProviderFailure(f"status moved backwards: {prev_status} → {status}")
        if progress < prev_progress:
            raise ProviderFailure(f"progress fell: {prev_progress} → {progress}")
        seen.append((status, progress))
    final = seen[-1][0]
    return (
        f"{' → '.join(f'{s} {p}%' for s, p in seen[:1] + seen[-3:])} ({len(seen)} polls, {final})"
    )


def _refused(response: httpx.Response, what: str, code: int) -> str:
    """``response`` is the documented refusal ``code``: never a 5xx, always the envelope."""
    if response.status_code >= 500:
        raise ProviderFailure(f"{what}: answered HTTP {response.status_code}, not code {code}")
    try:
        body = response.json()
    except ValueError:
        raise ProviderFailure(
            f"{what}: answered HTTP {response.status_code} that is not the JSON envelope"
        ) from None
    if not isinstance(body, dict) or set(body) != {"code", "message", "data"}:
        raise ProviderFailure(f"{what}: not the {{code, message, data}} envelope: {body}")
    if body["code"] != code:
        raise ProviderFailure(
            f"{what}: code {body['code']} ({body['message']}), the contract says {code}"
        )
    return f"{what} → {code}"


def check_documented_refusals(api: Api) -> str:
    """Refusals the documents name, each provoked once: a token without X-Client-Id (400), an
    export without the attribution headers (402), an unknown session (1002), a body that is not
    JSON (422). A server that accepts any of them, or answers another code, fails here whatever
    its error-status profile (schemathesis's header checks clash with HTTP-200 business codes)."""
    http = api.http
    seen = [
        _refused(
            http.post("/api/auth/anonymous-token"), "a token request without X-Client-Id", 400
        ),
        _refused(
            http.get(
                "/api/state/nemo_agent/me/ses_000000000000/latest",
                headers={"Authorization": api.headers["Authorization"]},
            ),
            "the state of a session that does not exist",
            1002,
        ),
        _refused(
            http.post(
                "/api/tasks/me/with-session/nemo_agent",
                content=b'{"task_name": ',
                headers={
                    "Authorization": api.headers["Authorization"],
                    "Content-Type": "application/json",
                },
            ),
            "a session request whose body is not JSON",
            422,
        ),
    ]
    sid, upload = api.session_with_song()
    export = {
        "id": f"render_attr_{uuid.uuid4().hex[:8]}",
        "sessionId": sid,
        "draft": ready_draft(upload),
    }
    seen.append(
        _refused(
            http.post(
                "/api/render/proxy/lambda",
                json=export,
                headers={"Authorization": api.headers["Authorization"]},
            ),
            "an export without X-Skill-Source/-Version/-Platform",
            402,
        )
    )
    return "; ".join(seen)


def behaviour_checks(
    base_url: str,
    token: str | None,
    *,
    poll: float = 0.2,
    render_timeout: float = 120.0,
    max_gap: float = 60.0,
    max_wait: float = 960.0,
) -> list[CheckResult]:
    results: list[CheckResult] = []
    with httpx.Client(base_url=base_url, timeout=30) as http:
        token = token or fetch_token(http)
        api = Api(http, token)
        seen: list[dict[str, Any]] = []

        def stream() -> str:
            detail, balances = check_stream(api, max_gap, max_wait)
            seen.extend(balances)
            return detail

        checks: list[tuple[str, Callable[[], str]]] = [
            ("stream_events", stream),
            ("render_lifecycle", lambda: check_render_lifecycle(api, poll, render_timeout)),
            ("documented_refusals", lambda: check_documented_refusals(api)),
            ("credits_consistent", lambda: check_credits(api, seen)),
        ]
        for name, check in checks:
            started = time.monotonic()
            try:
                results.append(CheckResult(name, True, check(), time.monotonic() - started))
            except (ProviderFailure, httpx.HTTPError, KeyError, ValueError) as exc:
                detail = (
                    f"{type(exc).__name__}: {exc}"
                    if not isinstance(exc, ProviderFailure)
                    else str(exc)
                )
                results.append(CheckResult(name, False, detail, time.monotonic() - started))
    return results


def write_junit(results: list[CheckResult], path: Path, base_url: str) -> None:
    suite = ET.Element(
        "testsuite",
        name=f"nemo-contract provider: {base_url}",
        tests=str(len(results)),
        failures=str(sum(not r.passed for r in results)),
    )
    for result in results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname="nemo_contract.provider",
            name=result.name,
            time=f"{result.seconds:.2f}",
        )
        if not result.passed:
            ET.SubElement(case, "failure", message=result.detail[:500]).text = result.detail
        ET.SubElement(case, "system-out").text = result.detail
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def run_provider(
    base_url: str,
    *,
    token: str | None,
    out: Path,
    max_examples: int = 20,
    error_status: str = "http200",
    schemathesis: bool = True,
    seed: int = 1,
) -> int:
    base_url = base_url.rstrip("/")
    try:
        with httpx.Client(base_url=base_url, timeout=30) as http:
            token = token or fetch_token(http)
    except (httpx.HTTPError, ProviderFailure, ValueError) as exc:
        print(f"nemo-contract: cannot reach {base_url}: {exc}", file=sys.stderr)
        return 2
    results = behaviour_checks(base_url, token)
    if schemathesis:
        print("preparing a session, a song and renders for fuzzing…", file=sys.stderr, flush=True)
        fixtures = None
        with httpx.Client(base_url=base_url, timeout=30) as http:
            try:
                fixtures = prepare(Api(http, token))
            except (ProviderFailure, httpx.HTTPError, KeyError, ValueError) as exc:
                results.append(CheckResult("fuzzing_setup", False, str(exc), 0.0))
        print(
            f"running schemathesis, every check, {max_examples} examples per operation and "
            f"phase, seed {seed}…",
            file=sys.stderr,
            flush=True,
        )
        fuzzed = run_schemathesis(
            base_url, token, out, max_examples, error_status, fixtures=fixtures, seed=seed
        )
        results.insert(0, fuzzed)
    write_junit(results, out / "provider-junit.xml", base_url)
    for result in results:
        mark = "✅" if result.passed else "❌"
        print(f"{mark} {result.name}: {result.detail.splitlines()[-1] if result.detail else ''}")
        if "\n" in result.detail:  # a failure's log tail, or what a run did not reach
            print("   " + result.detail.rsplit("\n", 1)[0].replace("\n", "\n   "))
    print(f"report: {out / 'provider-junit.xml'}")
    return 0 if all(r.passed for r in results) else 1
