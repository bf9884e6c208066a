"""The in-process entry point the compatibility suite drives (transport and clock injected).

    run(argv, *, env, http, clock, stdout, stderr) -> exit code

is the whole command line, as `nemo-client` runs it, with its network, time and terminal given
by the caller. ``client_class`` (not passed by the suite) lets a variant of the client, a
subclass of `NemoClient` with one part swapped, reuse this entry point.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

import httpx

from .cli import main
from .client import NemoClient
from .clock import Clock
from .console import Console

__all__ = ["run"]


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    http: httpx.Client,
    clock: Clock,
    stdout: TextIO,
    stderr: TextIO,
    client_class: type[NemoClient] = NemoClient,
) -> int:
    home = Path(env["HOME"]) if "HOME" in env else None
    console = Console(stdout, stderr, tty=False)
    return main(
        list(argv),
        env=env,
        http=http,
        clock=clock,
        console=console,
        home=home,
        client_class=client_class,
    )
