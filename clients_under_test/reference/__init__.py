"""The reference client of NemoVideo's two skill documents (how-to-download-music and
video-to-mp3): the baseline the compatibility suite measures other clients against.

Each documented rule lives in one module: `config` (environment, config folder), `auth` (tokens,
client id), `session`, `attribution` (X-Skill-* headers), `error_table`, `api` (requests and
recovery), `sse` (stream events), `chat` (reading a run), `gui` (GUI translation), `router`
(intents), `files` (upload checks), `export` (render and download), `timeline` (summary and
changes), `commands`, `repl` and `cli`. `errors` documents the exception hierarchy.
"""

from .client import NemoClient
from .clock import Clock, SystemClock
from .config import Settings
from .console import Console
from .errors import ExitCode, NemoClientError

__version__ = "0.1.0"

__all__ = [
    "Clock",
    "Console",
    "ExitCode",
    "NemoClient",
    "NemoClientError",
    "Settings",
    "SystemClock",
    "__version__",
]
