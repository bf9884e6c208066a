"""Export: pre-check, render body, polling cadence, one retry after a failure, download with a
fallback, and the claim link."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from clients_under_test.reference import NemoClient
from clients_under_test.reference.errors import ExportError

from .backend import CDN_URL, DEMO_DRAFT, WEB, Backend
from .conftest import MakeClient, Output

COMPLETED = {"status": "completed", "progress": 100, "output": {"url": CDN_URL}}


@pytest.fixture
def ready(make_client: MakeClient, backend: Backend) -> NemoClient:
    client = make_client()
    client.new_session()
    backend.draft = DEMO_DRAFT
    return client


def test_the_render_request_is_the_documented_body(
    ready: NemoClient, backend: Backend, tmp_path: Path
) -> None:
    ready.export("mp3", tmp_path / "out.mp3")
    (render,) = backend.ops("render")
    assert render.json == {
        "id": f"render_{int(render.at * 1000)}",
        "sessionId": "sess_1",
        "draft": DEMO_DRAFT,
        "output": {"format": "mp3", "quality": "high"},
    }


def test_polls_are_30_seconds_apart_by_the_clock(
    ready: NemoClient, backend: Backend, tmp_path: Path, output: Output
) -> None:
    backend.polls = [{"status": "processing", "progress": p} for p in (10, 40, 80)] + [COMPLETED]
    ready.export("mp4", tmp_path / "out.mp4")

    times = [backend.ops("render")[0].at] + [call.at for call in backend.ops("poll")]
    assert [b - a for a, b in itertools.pairwise(times)] == [30.0] * 4
    assert "Rendering… 40%" in output.err


def test_at_most_10_polls_and_no_second_job_for_a_slow_render(
    ready: NemoClient, backend: Backend, tmp_path: Path
) -> None:
    backend.polls = [{"status": "processing", "progress": 50}]
    with pytest.raises(ExportError, match="still not finished after 10 checks"):
        ready.export("mp4", tmp_path / "out.mp4")
    assert len(backend.ops("poll")) == 10
    assert len(backend.ops("render")) == 1


def test_a_failed_render_is_submitted_once_more_with_a_new_id(
    ready: NemoClient, backend: Backend, tmp_path: Path
) -> None:
    backend.plans.append([{"status": "processing", "progress": 30}, {"status": "failed"}])
    path = ready.export("mp4", tmp_path / "out.mp4")

    ids = [call.json["id"] for call in backend.ops("render")]
    assert len(set(ids)) == 2
    assert all(re.fullmatch(r"render_\d{13}", rid) for rid in ids)
    assert path.read_bytes() == backend.file_bytes


def test_two_failures_end_the_export(ready: NemoClient, backend: Backend, tmp_path: Path) -> None:
    backend.polls = [{"status": "failed", "error": "encoder crashed"}]
    with pytest.raises(ExportError, match=r"failed twice \(encoder crashed\)"):
        ready.export("mp4", tmp_path / "out.mp4")
    assert len(backend.ops("render")) == 2


@pytest.mark.parametrize(
    "completed",
    [
        {"status": "completed", "output": {"url": CDN_URL}},
        {"data": {"status": "completed", "outputUrl": CDN_URL}},
        {
            "status": "completed",
            "output": {"url": CDN_URL},
            "success": True,
            "data": {"status": "completed", "outputUrl": CDN_URL},
        },
    ],
    ids=["top-level", "data-only", "both"],
)
def test_status_and_url_are_read_from_either_shape(
    ready: NemoClient, backend: Backend, tmp_path: Path, completed: dict[str, Any]
) -> None:
    backend.polls = [{"data": {"status": "processing", "progress": 20}}, completed]
    ready.export("mp4", tmp_path / "out.mp4")
    assert len(backend.ops("cdn")) == 1
    assert backend.ops("download") == []


def test_the_download_link_gets_no_token(
    ready: NemoClient, backend: Backend, tmp_path: Path
) -> None:
    ready.export("mp4", tmp_path / "out.mp4")
    (cdn,) = backend.ops("cdn")
    assert "Authorization" not in cdn.request.headers
    assert not (tmp_path / "out.mp4.part").exists()


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(403, text="<Error>AccessDenied</Error>"),
        httpx.Response(200, json={"code": 0}),
        httpx.ReadError("reset"),
    ],
    ids=["cdn-403", "json-instead-of-file", "network"],
)
def test_a_failed_download_falls_back_to_the_download_endpoint(
    ready: NemoClient, backend: Backend, tmp_path: Path, failure: httpx.Response | Exception
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        if isinstance(failure, Exception):
            raise failure
        return failure

    backend.queue("cdn", fail)
    path = ready.export("mp4", tmp_path / "out.mp4")

    (fallback,) = backend.ops("download")
    rid = backend.ops("render")[0].json["id"]
    assert fallback.request.url.path == f"/api/render/proxy/{rid}/download"
    assert path.read_bytes() == backend.file_bytes


def test_a_url_less_completion_goes_straight_to_the_download_endpoint(
    ready: NemoClient, backend: Backend, tmp_path: Path
) -> None:
    backend.polls = [{"status": "completed"}]
    ready.export("mp4", tmp_path / "out.mp4")
    assert backend.ops("cdn") == []
    assert len(backend.ops("download")) == 1


def test_both_downloads_failing_is_an_export_error(
    ready: NemoClient, backend: Backend, tmp_path: Path
) -> None:
    backend.queue("cdn", httpx.Response(500))
    backend.queue("download", httpx.Response(404, json={"code": 404, "message": "gone"}))
    with pytest.raises(ExportError, match="could not be downloaded"):
        ready.export("mp4", tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()
    assert not (tmp_path / "out.mp4.part").exists()


def test_the_claim_link_follows_delivery(
    ready: NemoClient, backend: Backend, tmp_path: Path, output: Output
) -> None:
    ready.export("mp4", tmp_path / "out.mp4")
    (claim,) = backend.ops("claim")
    assert claim.json == {"task_id": "task_1", "session_id": "sess_1"}
    assert claim.at >= backend.ops("cdn")[0].at
    expected = f"Open your project in the browser: {WEB}/workspace/claim?ct=clm_claim123"
    assert expected in output.out.splitlines()


def test_a_claim_failure_does_not_fail_the_export(
    ready: NemoClient, backend: Backend, tmp_path: Path, output: Output
) -> None:
    backend.queue("claim", httpx.Response(500, text="oops"))
    path = ready.export("mp4", tmp_path / "out.mp4")
    assert path.exists()
    assert "workspace/claim" not in output.all


@pytest.mark.parametrize(
    "draft",
    [
        {},
        {"t": []},
        {"t": [{"id": "v", "tt": 0, "sg": []}]},
    ],
    ids=["no-draft", "no-tracks", "empty-segments"],
)
def test_nothing_to_export_is_said_before_rendering(
    ready: NemoClient, backend: Backend, tmp_path: Path, draft: dict[str, Any]
) -> None:
    backend.draft = draft
    with pytest.raises(ExportError, match="Nothing to export"):
        ready.export("mp4", tmp_path / "out.mp4")
    assert backend.ops("render") == []


def test_export_without_a_project_makes_no_request(
    make_client: MakeClient, backend: Backend
) -> None:
    with pytest.raises(ExportError, match="Nothing to export"):
        make_client().export("mp4")
    assert backend.calls == []
