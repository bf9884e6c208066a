"""Everything the client shows goes through `Console`, which redacts secrets on the way out.

Tokens must never reach the screen: the client registers every token it handles with
`Console.add_secret`, and anything shaped like an ``nmv_`` API token is masked as well. A claim
token (``clm_…``) is not an API token and may appear, inside the claim link only.
"""

from __future__ import annotations

import re
import sys
from typing import TextIO

__all__ = ["Console", "human_size", "redact"]

_TOKEN_SHAPE = re.compile(r"nmv_[A-Za-z0-9_\-.]+")
_BEARER = re.compile(r"(Bearer\s+)\S+")  # as in an Authorization header
REDACTED = "[redacted]"


# C0 and C1 control characters but tab and newline: text from the backend must not be able to
# drive the user's terminal (an ESC sequence in a reply would)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def redact(text: str, secrets: set[str] | frozenset[str] = frozenset()) -> str:
    text = _CONTROL.sub("", text)
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, REDACTED)
    text = _TOKEN_SHAPE.sub(REDACTED, text)
    return _BEARER.sub(lambda m: m.group(1) + REDACTED, text)


class Console:
    """Output for people: messages on ``out``; errors, progress and debug lines on ``err``.

    On a terminal, progress lines overwrite each other; elsewhere each is its own line.
    """

    def __init__(
        self,
        out: TextIO | None = None,
        err: TextIO | None = None,
        *,
        verbose: bool = False,
        tty: bool | None = None,
    ) -> None:
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        self.verbose = verbose
        self.tty = tty if tty is not None else _isatty(self.err)
        self._secrets: set[str] = set()
        self._progress_open = False

    def add_secret(self, secret: str) -> None:
        self._secrets.add(secret)

    def redact(self, text: str) -> str:
        return redact(text, self._secrets)

    def say(self, text: str) -> None:
        self._close_progress()
        print(self.redact(text), file=self.out, flush=True)

    def warn(self, text: str) -> None:
        self._close_progress()
        print(self.redact(text), file=self.err, flush=True)

    def error(self, text: str) -> None:
        # one line: text quoted from the backend may hold line breaks, and the advice that
        # ends the message must stay on the line that says "Error:"
        self._close_progress()
        line = " ".join(self.redact(text).split())
        print(f"Error: {line}", file=self.err, flush=True)

    def debug(self, text: str) -> None:
        if self.verbose:
            self._close_progress()
            print(f"[debug] {self.redact(text)}", file=self.err, flush=True)

    def progress(self, text: str) -> None:
        line = self.redact(text)
        if self.tty:
            print(f"\r\033[K{line}", end="", file=self.err, flush=True)
            self._progress_open = True
        else:
            print(line, file=self.err, flush=True)

    def _close_progress(self) -> None:
        if self._progress_open:
            print(file=self.err, flush=True)
            self._progress_open = False


def human_size(size: float) -> str:
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
