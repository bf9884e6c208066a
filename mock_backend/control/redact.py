"""Keeping tokens out of the journal and the logs.

A token is replaced by a fingerprint (``nmv_usr_…3f9a1c`` style: the prefix, an ellipsis and
the first 6 hex digits of its sha256), which identifies it across entries without revealing it.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import traceback
from collections.abc import Callable
from typing import Any

from ..errors import StreamCut

__all__ = [
    "RedactingFilter",
    "fingerprint",
    "placeholder",
    "redact",
    "redact_logs",
    "redact_text",
]

# anywhere in a text, not only at a word boundary: a token after "%20", "_" or a letter is still
# a token (over-redacting a look-alike is harmless; leaking a token is not)
_TOKEN = re.compile(r"(nmv_usr_|clm_)([A-Za-z0-9]{6,})")


@functools.lru_cache(maxsize=4096)  # every journaled request of a client asks again
def fingerprint(token: str) -> str:
    prefix = "clm_" if token.startswith("clm_") else "nmv_usr_"
    return f"{prefix}…{hashlib.sha256(token.encode()).hexdigest()[:6]}"


def placeholder(token: str) -> str:
    """A stand-in that still has a token's shape (``nmv_usr_REDACTED3f9a1c``): what a recording
    keeps, so the contract's token pattern still holds and a replayed client can send it back.
    The same token always gets the same stand-in; the token cannot be read back from it."""
    prefix = "clm_" if token.startswith("clm_") else "nmv_usr_"
    return f"{prefix}REDACTED{hashlib.sha256(token.encode()).hexdigest()[:6]}"


def redact_text(text: str, replace: Callable[[str], str] = fingerprint) -> str:
    def swap(found: re.Match[str]) -> str:
        if found.group(2).startswith("REDACTED"):  # already a stand-in: redacting is idempotent
            return found.group(0)
        return replace(found.group(0))

    return _TOKEN.sub(swap, text)


def redact(value: Any) -> Any:
    """A copy of ``value`` (JSON-like) with every token replaced by its fingerprint."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {redact_text(str(k)): redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


class RedactingFilter(logging.Filter):
    """A logging filter that replaces tokens in a record's message (uvicorn's access log shows
    paths, and a careless client may put a token in a query string)."""

    def filter(self, record: logging.LogRecord) -> bool:
        # the arguments are redacted one by one and the format kept: uvicorn's access formatter
        # reads record.args as a tuple (client, method, path, version, status), and a record
        # whose args were dropped printed "--- Logging error ---" instead of the line
        if isinstance(record.msg, str):
            record.msg = redact_text(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact_text(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {
                k: redact_text(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        if record.exc_info and not record.exc_text:  # formatted once here, redacted
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_text = redact_text(text)
        return True


class ScriptedFaultFilter(logging.Filter):
    """uvicorn logs the exception a scripted stream cut raises (that is how the connection is
    aborted) as "Exception in ASGI application" with a traceback: one quiet line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, StreamCut):
            record.msg, record.args = f"scripted fault: {error}", None
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def redact_logs(*names: str) -> None:
    for name in names:
        logger = logging.getLogger(name)
        for kind in (RedactingFilter, ScriptedFaultFilter):
            if not any(isinstance(f, kind) for f in logger.filters):
                logger.addFilter(kind())
