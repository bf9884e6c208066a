"""Exceptions of the reference client, and the exit code each family ends the CLI with.

Every failure carries a message a person can act on; the CLI prints that message (redacted by the
console) and exits with the family's code. No traceback ever reaches the user.

    NemoClientError                 root of everything this package raises (exit 1)
    ├── UsageError                  bad arguments, a missing file, an unknown skill (exit 2)
    ├── AuthError                   a token rejected even after re-authenticating (exit 3)
    ├── SessionError                the session vanished even after a new one was made (exit 3)
    ├── CreditsError                2001: out of credits (exit 4)
    ├── PlanError                   402: the plan does not allow export (exit 4)
    ├── FileRejected                4001/4002 or the client-side checks before upload (exit 5)
    ├── RateLimited                 429 twice in a row (exit 6)
    ├── NetworkError                the backend could not be reached (exit 7)
    ├── RunError                    the chat run failed, timed out or was lost (exit 8)
    ├── ExportError                 nothing to export, render failed twice, download failed (exit 9)
    └── UnexpectedResponse          non-JSON, 5xx, unknown code, a body off the schema (exit 1)
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "AuthError",
    "CreditsError",
    "ExitCode",
    "ExportError",
    "FileRejected",
    "NemoClientError",
    "NetworkError",
    "PlanError",
    "RateLimited",
    "RunError",
    "SessionError",
    "UnexpectedResponse",
    "UsageError",
]


class ExitCode(IntEnum):
    """Process exit codes, one per failure family. `describe()` feeds ``--help``."""

    OK = 0
    UNEXPECTED = 1
    USAGE = 2
    AUTH = 3
    CREDITS_OR_PLAN = 4
    FILE_REJECTED = 5
    RATE_LIMITED = 6
    NETWORK = 7
    RUN_FAILED = 8
    EXPORT_FAILED = 9
    INTERRUPTED = 130

    @staticmethod
    def describe() -> str:
        return "\n".join(f"  {code.value:>3}  {_MEANINGS[code]}" for code in ExitCode)


_MEANINGS = {
    ExitCode.OK: "success",
    ExitCode.UNEXPECTED: "unexpected answer from the backend (non-JSON, 5xx, unknown code)",
    ExitCode.USAGE: "bad arguments, missing file or unknown skill",
    ExitCode.AUTH: "token or session rejected even after re-authenticating",
    ExitCode.CREDITS_OR_PLAN: "out of credits (2001) or plan does not allow export (402)",
    ExitCode.FILE_REJECTED: "file type or size not accepted (4001, 4002, local checks)",
    ExitCode.RATE_LIMITED: "rate limited (429) even after waiting 30 s",
    ExitCode.NETWORK: "the backend could not be reached",
    ExitCode.RUN_FAILED: "the chat run reported an error, timed out or the stream was lost",
    ExitCode.EXPORT_FAILED: "nothing to export, render failed twice or download failed",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
}


class NemoClientError(Exception):
    """Root of every exception of the reference client; ``str(error)`` is the user's message."""

    exit_code: ExitCode = ExitCode.UNEXPECTED


class UsageError(NemoClientError):
    exit_code = ExitCode.USAGE


class AuthError(NemoClientError):
    exit_code = ExitCode.AUTH


class SessionError(NemoClientError):
    exit_code = ExitCode.AUTH


class CreditsError(NemoClientError):
    exit_code = ExitCode.CREDITS_OR_PLAN


class PlanError(NemoClientError):
    exit_code = ExitCode.CREDITS_OR_PLAN


class FileRejected(NemoClientError):
    exit_code = ExitCode.FILE_REJECTED


class RateLimited(NemoClientError):
    exit_code = ExitCode.RATE_LIMITED


class NetworkError(NemoClientError):
    exit_code = ExitCode.NETWORK


class RunError(NemoClientError):
    exit_code = ExitCode.RUN_FAILED


class ExportError(NemoClientError):
    exit_code = ExitCode.EXPORT_FAILED


class UnexpectedResponse(NemoClientError):
    exit_code = ExitCode.UNEXPECTED
