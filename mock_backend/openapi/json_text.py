"""Reading JSON a client sent, strictly: what the mock accepts it can always answer and journal.

Python's `json.loads` is lenient where JSON (RFC 8259) is not, and everything it lets through
comes back later as a 500: ``NaN`` and ``Infinity`` are not JSON and Starlette's `JSONResponse`
refuses them (``allow_nan=False``); ``1e400`` reads as ``inf``; ``"\\ud800"`` reads as a lone
surrogate, which no UTF-8 encoder writes; nesting deeper than Python's recursion limit raises
`RecursionError`. `loads` refuses all of them up front with `JsonRejected`, whose message says
which rule the text broke, so a handler can answer the documented 422 envelope.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

from ..errors import MockBackendError

__all__ = ["MAX_DEPTH", "JsonRejected", "loads"]

# nesting levels accepted (the contract's deepest body, a draft, needs 6): stated in
# openapi.yaml as info.x-limits.json_depth
MAX_DEPTH = 64
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class JsonRejected(MockBackendError):
    """The text is not JSON the mock can keep: the message says why, for the 422 envelope."""


def _constant(name: str) -> Any:
    raise JsonRejected(f"{name} is not a JSON number (RFC 8259); send a finite number")


def _number(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise JsonRejected(f"the number {text[:40]} is too large for a double; send a smaller one")
    return value


def _check(value: Any, limit: int) -> None:
    """Depth and lone surrogates, without recursion (a deep value must not exhaust the stack)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise JsonRejected(
                    "a string holds a lone UTF-16 surrogate (such as \\ud800), which is not "
                    "text; send valid Unicode"
                )
        elif isinstance(item, dict | list):
            if depth > limit:
                raise JsonRejected(f"nested deeper than {limit} levels")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')  # brackets inside a string do not nest
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def _deeper_than(raw: bytes, limit: int) -> bool:
    """Whether brackets nest deeper than ``limit``, found without parsing. `json.loads` would
    recurse once per level: near the interpreter's recursion limit, a garbage collection that
    runs then cannot finalize other requests' streams ("Exception ignored ... RecursionError",
    seen in the soak), so a body that deep never reaches the parser. Every step runs in C."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > limit


def loads(raw: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``raw`` as strict JSON; raise `JsonRejected` with a reason a client can act on."""
    if _deeper_than(
        raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw, max_depth
    ):
        raise JsonRejected(f"nested deeper than {max_depth} levels")
    try:
        value = json.loads(raw, parse_constant=_constant, parse_float=_number)
    except JsonRejected:
        raise
    except RecursionError:
        raise JsonRejected(f"nested deeper than {max_depth} levels") from None
    except UnicodeDecodeError as exc:
        raise JsonRejected(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise JsonRejected(f"not valid JSON ({exc})") from None
    except ValueError as exc:  # int digits beyond sys.get_int_max_str_digits
        raise JsonRejected(f"not usable JSON ({exc})") from None
    _check(value, max_depth)
    return value
