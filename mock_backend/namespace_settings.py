"""The settings a namespace may choose for itself (``PUT /__mock/namespace``).

A namespace starts with the server's settings. A caller that needs its own (the contract
suite against a shared mock: a seed, a clock scale it may lower on a re-run, draws by order,
render lengths, an error profile) sends them once, before anything else happens in it; they
are kept in the namespace's store, so every ``--workers`` process makes the namespace alike,
and they stay through ``POST /__mock/reset`` until the namespace is closed or released.

Only what changes one backend's behaviour is open to a namespace: what the server's resources
hang on (the data folder, the state, limits, workers, the admin token) is not.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, get_args, get_type_hints

from .errors import ApiError
from .settings import Settings
from .state.clock import ClockError, parse_clock

__all__ = ["MAX_SCALE", "NAMESPACE_SETTINGS", "apply_overrides", "check_overrides"]

YEAR = 365 * 86_400.0  # the longest span a namespace's settings may name
MAX_SCALE = 100_000.0  # a namespace's fastest clock: beyond it, the machine's lag is all noise


_HINTS = get_type_hints(Settings)


def _integer(low: int) -> Callable[[str, Any], Any]:
    def check(name: str, value: Any) -> Any:
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise _wrong(name, f"an integer of at least {low}")
        return value

    return check


def _choice(*allowed: str) -> Callable[[str, Any], Any]:
    def check(name: str, value: Any) -> Any:
        if value not in allowed:
            raise _wrong(name, " or ".join(allowed))
        return value

    return check


def _clock(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        raise _wrong(name, "real, manual or scaled:N (as in scaled:100)")
    try:
        rate = parse_clock(value).rate
    except ClockError as exc:
        raise _wrong(name, str(exc)) from None
    if rate is not None and rate > MAX_SCALE:
        raise _wrong(name, f"at most scaled:{MAX_SCALE:g} (virtual seconds per wall second)")
    return value


def _number(value: Any) -> float | None:
    """``value`` as a finite float of at most a year, or None (a bool, a string, an integer
    too large for a float, NaN are not seconds)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) and abs(number) <= YEAR else None


def _span(name: str, value: Any) -> Any:
    """[low, high] seconds, 0 <= low <= high."""
    pair = [_number(v) for v in value] if isinstance(value, list | tuple) else []
    low, high = pair if len(pair) == 2 else (None, None)
    if low is None or high is None or not 0 <= low <= high:
        raise _wrong(name, "[low, high] seconds, 0 <= low <= high, as in [70, 80]")
    return (low, high)


def _seconds(name: str, value: Any) -> Any:
    number = _number(value)
    if number is None or number <= 0:
        raise _wrong(name, "seconds, more than 0 (at most a year)")
    return number


def _wrong(name: str, expected: str) -> ApiError:
    return ApiError(422, f"body.{name}: {expected}", data={"field": f"body.{name}"})


# name -> its check (which returns the value as `Settings` holds it)
NAMESPACE_SETTINGS: dict[str, Callable[[str, Any], Any]] = {
    "seed": _integer(0),
    "clock": _clock,
    # the choices as `Settings` declares them, so the two never disagree
    **{name: _choice(*get_args(_HINTS[name])) for name in ("draws", "error_status", "event_shape")},
    "tokens_per_ip": _integer(1),
    "tokens_per_client_id": _integer(1),
    "anonymous_credits": _integer(0),
    "registered_credits": _integer(0),
    "render_seconds": _span,
    "render_pending_seconds": _span,
    "heartbeat_every": _seconds,
}


def check_overrides(body: dict[str, Any]) -> dict[str, Any]:
    """The settings ``body`` names, checked, as JSON (what the store keeps). `ApiError` 422
    for an unknown name or a wrong value, saying which and what is expected."""
    unknown = sorted(set(body) - set(NAMESPACE_SETTINGS))
    if unknown:
        raise ApiError(
            422,
            f"body.{unknown[0]}: not a setting a namespace may choose; these are: "
            + ", ".join(NAMESPACE_SETTINGS),
            data={"field": f"body.{unknown[0]}"},
        )
    checked = {name: NAMESPACE_SETTINGS[name](name, value) for name, value in body.items()}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in checked.items()}


def apply_overrides(settings: Settings, overrides: dict[str, Any]) -> Settings:
    """``settings`` with a namespace's own (as `check_overrides` returned them) in place."""
    if not overrides:
        return settings
    return settings.with_(
        **{name: NAMESPACE_SETTINGS[name](name, value) for name, value in overrides.items()}
    )
