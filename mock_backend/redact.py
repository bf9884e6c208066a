"""Keeping tokens out of the journal and the logs.

A token is replaced by a fingerprint (``nmv_usr_…3f9a1c`` style: the prefix, an ellipsis and
the first 6 hex digits of its sha256), which identifies it across entries without revealing it.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any

from .errors import StreamCut

__all__ = ["RedactingFilter", "fingerprint", "redact", "redact_logs", "redact_text"]

_TOKEN = re.compile(r"\b(nmv_usr_|clm_)([A-Za-z0-9]{6,})")


def fingerprint(token: str) -> str:
    prefix = "clm_" if token.startswith("clm_") else "nmv_usr_"
    return f"{prefix}…{hashlib.sha256(token.encode()).hexdigest()[:6]}"


def redact_text(text: str) -> str:
    return _TOKEN.sub(lambda m: fingerprint(m.group(0)), text)


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
        message = record.getMessage()
        cleaned = redact_text(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class ScriptedFaultFilter(logging.Filter):
    """uvicorn logs the exception a scripted stream cut raises (that is how the connection is
    aborted) as "Exception in ASGI application" with a traceback: one quiet line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, StreamCut):
            record.msg, record.args, record.exc_info = f"scripted fault: {error}", None, None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def redact_logs(*names: str) -> None:
    for name in names:
        logger = logging.getLogger(name)
        for kind in (RedactingFilter, ScriptedFaultFilter):
            if not any(isinstance(f, kind) for f in logger.filters):
                logger.addFilter(kind())
