"""Provider conformance: is a server (a real backend, a recording, a mock) true to openapi.yaml?

Two parts, both against any base URL:

1. schemathesis, every phase and every check that the server's error-status profile allows
   (see tests/mock_backend/test_conformance.py for why three checks clash with HTTP-200
   business codes), with the contract's own settings (contract/schemathesis.toml);
2. behaviour checks schemathesis cannot express: the SSE stream (every event validates against
   the contract's event schema, heartbeats keep coming, the stream just closes at the end), the
   render lifecycle (status only moves forward, progress never falls) and credit consistency
   (available + frozen = total, nothing negative, before, during and after a run).

Results go to JUnit XML: one test case per part and check.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from mock_backend.samples import make_song
from mock_backend.spec import load_spec, spec_path
from mock_backend.sse_frames import SseParser

__all__ = ["CheckResult", "behaviour_checks", "read_stream", "run_provider"]

CONFIG = Path(__file__).with_name("schemathesis.toml")
ORDER = {"pending": 0, "processing": 1, "completed": 2, "failed": 2}
ATTRIBUTION = {
    "X-Skill-Source": "nemo-contract",
    "X-Skill-Version": "1.0.0",
    "X-Skill-Platform": "unknown",
}


class ProviderFailure(AssertionError):
    """A behaviour the contract promises and the server broke; the message says which."""


@dataclass
class CheckResult:
    name: str
    passed: bool
    detail: str
    seconds: float


def fetch_token(http: httpx.Client) -> str:
    response = http.post("/api/auth/anonymous-token", headers={"X-Client-Id": str(uuid.uuid4())})
    body = response.json()
    if body.get("code") != 0:
        raise ProviderFailure(f"could not get an anonymous token: {body.get('message')}")
    token: str = body["data"]["token"]
    return token


class _Api:
    def __init__(self, http: httpx.Client, token: str) -> None:
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}", **ATTRIBUTION}

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.http.request(method, path, headers=self.headers, **kwargs)
        try:
            body: dict[str, Any] = response.json()
        except json.JSONDecodeError:
            raise ProviderFailure(
                f"{method} {path}: not JSON (HTTP {response.status_code})"
            ) from None
        if body.get("code") != 0:
            raise ProviderFailure(
                f"{method} {path}: code {body.get('code')}: {body.get('message')}"
            )
        return body

    def credits(self) -> dict[str, Any]:
        data: dict[str, Any] = self.call("GET", "/api/credits/balance/simple")["data"]
        missing = [k for k in ("available", "frozen", "total") if not isinstance(data.get(k), int)]
        if missing:
            raise ProviderFailure(
                f"credits: {', '.join(missing)} missing or not an integer in {data}"
            )
        if min(data["available"], data["frozen"], data["total"]) < 0:
            raise ProviderFailure(f"credits: a negative balance {data}")
        if data["available"] + data["frozen"] != data["total"]:
            raise ProviderFailure(f"credits: available + frozen != total in {data}")
        return data

    def session(self) -> str:
        sid: str = self.call(
            "POST",
            "/api/tasks/me/with-session/nemo_agent",
            json={"task_name": "provider-check", "language": "en"},
        )["data"]["session_id"]
        return sid


def check_stream_and_credits(api: _Api, max_gap: float, max_wait: float) -> tuple[str, str]:
    """One edit run: events validate, heartbeats keep coming, credits stay consistent."""
    validator = load_spec().schema_validator("StreamEvent")
    sid = api.session()
    with tempfile.TemporaryDirectory() as folder:
        song = Path(folder) / "song.mp3"
        make_song(song, 3.0)
        with song.open("rb") as handle:
            api.call(
                "POST",
                f"/api/upload-video/nemo_agent/me/{sid}",
                files=[("files", ("song.mp3", handle, "audio/mpeg"))],
            )
    before = api.credits()
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
    during: list[dict[str, Any]] = []

    def first_event() -> None:
        during.append(api.credits())

    with api.http.stream(
        "POST",
        "/run_sse",
        json=body,
        timeout=httpx.Timeout(30, read=max_gap),
        headers={**api.headers, "Accept": "text/event-stream"},
    ) as response:
        events, gaps = read_stream(response, validator, max_wait, on_first=first_event)
    after = api.credits()
    if events == 0:
        raise ProviderFailure("the stream closed without a single event")
    if any(d["total"] > before["total"] for d in [*during, after]):
        raise ProviderFailure(f"credits grew during a run: {before} → {during} → {after}")
    return (
        f"{events} events valid; longest gap {max(gaps):.2f} s wall; credits "
        f"{before['total']} → {after['total']} (frozen during: "
        f"{[d['frozen'] for d in during]})"
    ), sid


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


def check_render_lifecycle(api: _Api, sid: str, poll: float, timeout: float) -> str:
    draft = api.call("GET", f"/api/state/nemo_agent/me/{sid}/latest")["data"]["state"]["draft"]
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
        api = _Api(http, token)
        state: dict[str, str] = {}

        def stream() -> str:
            detail, state["sid"] = check_stream_and_credits(api, max_gap, max_wait)
            return detail

        def render() -> str:
            if "sid" not in state:
                raise ProviderFailure("skipped: the stream check did not leave a draft")
            return check_render_lifecycle(api, state["sid"], poll, render_timeout)

        def credits() -> str:
            return f"consistent: {api.credits()}"

        checks: list[tuple[str, Callable[[], str]]] = [
            ("credits_consistent", credits),
            ("stream_events_and_credits", stream),
            ("render_lifecycle", render),
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


def run_schemathesis(
    base_url: str,
    token: str,
    out: Path,
    max_examples: int,
    error_status: str,
    operations: list[str] | None = None,
) -> CheckResult:
    out.mkdir(parents=True, exist_ok=True)
    config = out / "schemathesis.toml"
    config.write_text(
        CONFIG.read_text(encoding="utf-8")
        + '\n[headers]\nAuthorization = "Bearer ${NEMO_PROVIDER_TOKEN}"\n'
        + "".join(f'{k} = "{v}"\n' for k, v in ATTRIBUTION.items()),
        encoding="utf-8",
    )
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        str(spec_path()),
        "--url",
        base_url,
        "--checks",
        "all",
        "--max-examples",
        str(max_examples),
        "--report",
        "junit",
        "--report-junit-path",
        str(out / "schemathesis-junit.xml"),
        "--seed",
        "1",
        "--request-timeout",
        "60",
        "--no-color",
    ]
    for operation in operations or []:
        command += ["--include-operation-id", operation]
    if operations:  # links leave the selection: the stateful phase has nothing to walk
        command += ["--phases", "examples,coverage,fuzzing"]
    if error_status == "http200":
        command += [
            "--exclude-checks",
            "ignored_auth,missing_required_header,negative_data_rejection",
        ]
    env = {**os.environ, "NEMO_PROVIDER_TOKEN": token}
    started = time.monotonic()
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, check=False, timeout=1800
    )
    (out / "schemathesis.log").write_text(done.stdout + done.stderr, encoding="utf-8")
    lines = (done.stdout + done.stderr).strip().splitlines()
    counts = [line.strip() for line in lines if " generated, " in line]
    detail = "\n".join(lines[-12:]) if done.returncode else ""
    detail += (
        counts[-1] if counts else "no test cases reported"
    ) + f" (log: {out / 'schemathesis.log'})"
    return CheckResult("schemathesis", done.returncode == 0, detail, time.monotonic() - started)


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
        print("running schemathesis (every phase, every check)…", file=sys.stderr, flush=True)
        results.insert(0, run_schemathesis(base_url, token, out, max_examples, error_status))
    write_junit(results, out / "provider-junit.xml", base_url)
    for result in results:
        mark = "✅" if result.passed else "❌"
        print(f"{mark} {result.name}: {result.detail.splitlines()[-1] if result.detail else ''}")
        if not result.passed and "\n" in result.detail:
            print("   " + result.detail.replace("\n", "\n   "))
    print(f"report: {out / 'provider-junit.xml'}")
    return 0 if all(r.passed for r in results) else 1
