"""The contract's parse is kept as JSON, keyed by the file's content: start-up reads it without
PyYAML, and a changed contract, a broken cache file or a document JSON cannot hold is parsed
from the YAML again, never served stale or altered."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from mock_backend.openapi.spec import _parsed, spec_path


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("NEMO_CACHE_DIR", str(folder))
    return folder


def test_the_second_read_needs_no_yaml_and_gives_the_same_document(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = spec_path().read_bytes()
    first = _parsed(raw)
    assert first == yaml.safe_load(raw)
    assert len(list(cache.glob("openapi-*.json"))) == 1
    monkeypatch.setitem(sys.modules, "yaml", None)  # importing it now fails
    assert _parsed(raw) == first


def test_a_changed_contract_is_parsed_again(cache: Path) -> None:
    assert _parsed(b"openapi: 3.1.0\ninfo: {title: a}\n")["info"] == {"title": "a"}
    assert _parsed(b"openapi: 3.1.0\ninfo: {title: b}\n")["info"] == {"title": "b"}
    assert len(list(cache.glob("openapi-*.json"))) == 2


def test_a_broken_cache_file_is_parsed_past_and_mended(cache: Path) -> None:
    raw = b"openapi: 3.1.0\npaths: {}\n"
    _parsed(raw)
    (kept,) = cache.glob("openapi-*.json")
    kept.write_text('{"openapi": ')  # half a file (a full disk, a crash of another tool)
    assert _parsed(raw) == {"openapi": "3.1.0", "paths": {}}
    assert _parsed(raw) == {"openapi": "3.1.0", "paths": {}}
    assert kept.read_text().startswith('{"openapi": "3.1.0"')


def test_a_document_json_would_change_is_not_cached(cache: Path) -> None:
    raw = b"responses:\n  200: {description: ok}\n"  # an int key: JSON would make it "200"
    assert _parsed(raw) == {"responses": {200: {"description": "ok"}}}
    assert _parsed(raw) == {"responses": {200: {"description": "ok"}}}
    assert list(cache.glob("openapi-*.json")) == []


def test_an_unwritable_cache_still_loads_the_contract(cache: Path) -> None:
    cache.write_text("a file where the folder should be")
    assert _parsed(b"openapi: 3.1.0\n") == {"openapi": "3.1.0"}
