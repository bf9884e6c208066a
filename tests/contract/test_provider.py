"""`nemo-contract provider` passes a live mock and fails a deliberately broken one, clearly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from contract.fuzzing import LINK_PAIRS, count_reach, walked_links
from contract.provider import behaviour_checks, fetch_token, run_provider, run_schemathesis
from mock_backend.openapi.spec import load_spec
from mock_backend.settings import Settings
from mock_backend.web.app import create_app
from mock_backend.web.handlers import Call, Handler, Result, all_handlers
from mock_backend.web.server import LiveServer


def _serve(handlers: dict[str, Handler] | None = None) -> LiveServer:
    settings = Settings(clock="scaled:500", tokens_per_ip=10**6)
    return LiveServer(create_app(settings, handlers=handlers), raise_app_exceptions=False).start()


@pytest.fixture(scope="module")
def live() -> Iterator[str]:
    server = _serve()
    yield server.url
    server.stop()


async def _credits_without_frozen(call: Call) -> Result:
    user = call.me.user
    return {"available": user.available, "total": user.total}  # `frozen` dropped


@pytest.fixture(scope="module")
def broken() -> Iterator[str]:
    handlers = {**all_handlers(), "getCredits": Handler(_credits_without_frozen)}
    server = _serve(handlers)
    yield server.url
    server.stop()


def test_provider_passes_the_live_mock(
    live: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_provider(live, token=None, out=tmp_path, max_examples=2)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "✅ schemathesis" in out
    assert "✅ render_lifecycle" in out
    # every operation was reached with a 2xx at least once (set-up objects and hooks), and
    # the summary says how many cases each got
    assert "2xx per operation: " in out
    assert "never answered with a 2xx" not in out, out
    reached = {
        op
        for har in tmp_path.glob("schemathesis-*.har")
        for op, n in count_reach(har).ok.items()
        if n
    }
    assert reached == set(load_spec().operations)
    # the stateful passes walk the contract's links, the session chain's included, and say
    # which they never walked
    assert "links walked: " in out
    walked = {
        link for ndjson in tmp_path.glob("schemathesis-*.ndjson") for link in walked_links(ndjson)
    }
    # the links no chain from schemathesis's own roots reaches are walked by their own passes
    # (with 2 examples the main pass walks only some of the others; 20 walk all 11)
    paths = {
        op.operation_id: f"{op.method.upper()} {op.path}" for op in load_spec().operations.values()
    }
    for _name, (source, target), _pins in LINK_PAIRS:
        assert any(
            link.startswith(f"{paths[source]} -> ") and link.endswith(f" -> {paths[target]}")
            for link in walked
        ), (source, target, walked)
    junit = (tmp_path / "provider-junit.xml").read_text()
    assert 'failures="0"' in junit
    assert 'name="stream_events"' in junit


def test_behaviour_checks_catch_a_credits_body_without_frozen(broken: str) -> None:
    results = {r.name: r for r in behaviour_checks(broken, None)}
    assert not results["credits_consistent"].passed
    assert "frozen missing" in results["credits_consistent"].detail


def test_schemathesis_catches_the_same_break_with_a_clear_message(
    broken: str, tmp_path: Path
) -> None:
    with httpx.Client(base_url=broken) as http:
        token = fetch_token(http)
    result = run_schemathesis(broken, token, tmp_path, 5, "http200", operations=["getCredits"])
    assert not result.passed
    log = (tmp_path / "schemathesis-fuzz.log").read_text()
    assert "Response violates schema" in log
    assert '{"available":100,"total":100}' in log  # the offending body, shown as received
