"""The suite's own exceptions: every one is a `NemoContractError`.

A client that fails a scenario is a verdict, not an exception; these are for what stops the suite
from judging at all (a manifest it cannot use) or a server broke outright (a provider check)."""

from __future__ import annotations

__all__ = ["ControlError", "ManifestError", "MergeError", "NemoContractError", "ProviderFailure"]


class NemoContractError(Exception):
    """The root of the suite's exceptions."""


class ManifestError(NemoContractError, ValueError):
    """A client.yaml that cannot be used; the message says what to fix."""


class MergeError(NemoContractError):
    """Shard reports that cannot be merged (different runs, a shard missing or given twice);
    the message names every problem."""


class ProviderFailure(NemoContractError, AssertionError):
    """A behaviour the contract promises and the server broke; the message says which."""


class ControlError(NemoContractError):
    """A control-API call the mock refused or could not answer; the message says which and why."""

    def __init__(self, call: str, status: int, code: object, message: str) -> None:
        super().__init__(f"{call} failed (HTTP {status}, code {code}): {message}")
        self.status = status
        self.code = code
