"""Strict JSON reading: what the parser never sees."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from mock_backend.openapi import json_text
from mock_backend.openapi.json_text import MAX_DEPTH, JsonRejected


def test_a_body_nested_too_deep_is_refused_before_the_parser_recurses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # found by the soak: json.loads recursing near the interpreter's limit let a garbage
    # collection fail to finalize other requests' streams ("Exception ignored ... RecursionError")
    parsed: list[int] = []

    def spy(raw: Any, **options: Any) -> Any:
        parsed.append(len(raw))
        return json.loads(raw, **options)

    fake = SimpleNamespace(loads=spy, JSONDecodeError=json.JSONDecodeError)
    monkeypatch.setattr(json_text, "json", fake)
    deep = MAX_DEPTH + 1
    for text in (
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * deep + "1" + "}" * deep,
        "[" * 100_000,  # never closed
        '[{"x": [' * 40 + "]}" * 40 + "]",  # 81 levels, as arrays and objects
    ):
        with pytest.raises(JsonRejected, match=f"nested deeper than {MAX_DEPTH} levels"):
            json_text.loads(text)
    assert parsed == [], "the parser saw a body nested too deep"

    # brackets inside strings do not nest, escaped quotes included; 64 levels are fine
    assert json_text.loads('["' + "[" * 500 + '\\"[[["]') == ["[" * 500 + '"[[['], parsed
    assert json_text.loads("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    assert len(parsed) == 2
