"""``nemo-client interactive``: free text goes through the intent router (`router.route`) to
export, credits, status or upload, and everything else to the chat. Errors are shown and the
prompt goes on; ``quit``, ``exit``, ``退出`` or end of input leave."""

from __future__ import annotations

import re
from collections.abc import Callable

from .client import NemoClient
from .commands import show_credits, show_status
from .errors import NemoClientError
from .router import Intent, route

__all__ = ["run_repl"]

_QUIT = frozenset({"quit", "exit", "q", "退出"})
_AUDIO = re.compile(r"\bmp3\b|\baudio\b|音频", re.IGNORECASE)


def run_repl(client: NemoClient, read: Callable[[str], str] = input) -> int:
    client.console.say(
        "NemoVideo — say what you want. Try: status, credits, upload FILE, export, or any "
        "request. Type quit to leave."
    )
    while True:
        try:
            text = read("> ").strip()
        except EOFError:
            return 0
        if not text:
            continue
        if text.lower() in _QUIT:
            return 0
        try:
            handle(client, text)
        except NemoClientError as error:
            client.console.error(str(error))


def handle(client: NemoClient, text: str) -> None:
    target = route(text)
    if target.intent is Intent.EXPORT:
        client.export("mp3" if _AUDIO.search(text) else "mp4")
    elif target.intent is Intent.CREDITS:
        show_credits(client)
    elif target.intent is Intent.STATE:
        show_status(client)
    elif target.intent is Intent.UPLOAD:
        if target.files:
            client.upload(target.files)
        else:
            client.console.say("Which file? Type its path, for example ~/Music/song.mp3")
    else:
        client.chat(text)
