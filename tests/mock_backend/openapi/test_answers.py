"""`compact` and `Answer` write exactly what Starlette's JSONResponse writes, and refuse what it
refuses, for whatever a handler may hand them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.responses import JSONResponse

from mock_backend.openapi.envelope import Answer, compact, ok

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(blacklist_categories=["Cs"]))  # a lone surrogate is no UTF-8
)
documents = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8) | st.integers() | st.booleans(), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(documents)
def test_the_bytes_are_starlettes(value: Any) -> None:
    assert compact(value) == JSONResponse(value).body
    answer = Answer(value)
    assert answer.body == JSONResponse(value).body
    assert answer.raw_headers == JSONResponse(value).raw_headers
    assert Answer(value, 402).status_code == 402
    assert Answer.ok(value).body == JSONResponse(ok(value)).body
    assert Answer.ok(value).raw_headers == JSONResponse(ok(value)).raw_headers


@pytest.mark.parametrize("value", [float("nan"), {"x": [float("inf")]}, {"x": object()}, {(1,): 2}])
def test_what_starlette_refuses_is_refused(value: Any) -> None:
    with pytest.raises((ValueError, TypeError)) as ours:
        compact(value)
    with pytest.raises((ValueError, TypeError)) as theirs:
        json.dumps(value, ensure_ascii=False, allow_nan=False)
    assert type(ours.value) is type(theirs.value)


def test_extra_headers_go_with_the_answer() -> None:
    answer = Answer({"code": 429}, 429, {"Retry-After": "30"})
    assert (b"retry-after", b"30") in answer.raw_headers
    assert answer.raw_headers == JSONResponse({"code": 429}, 429, {"Retry-After": "30"}).raw_headers
