"""bench_credits.py's baselines: a FastAPI hello route, or a Starlette app of one route.

    python benchmarks/hello_server.py fastapi|starlette

Serves ``GET /hello`` as ``nemo-mock serve`` serves the mock: uvicorn, one worker, the loop and
http implementation uvicorn picks (uvloop and httptools when installed), log level warning,
lifespan on, start-up objects frozen out of the GC's way, and a socket that listens before its
port is printed. Prints the port (a free one on 127.0.0.1) and serves until killed.

It imports only what its server needs (not the benchmark's load generator or httpx), so the
start-up bench_credits.py measures is the framework's own.
"""

from __future__ import annotations

import gc
import socket
import sys
from typing import Any

HOST = "127.0.0.1"
PATH = "/hello"
BODY = {"message": "hello world"}


def fastapi_app() -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get(PATH)
    async def hello() -> dict[str, str]:
        return BODY

    return app


def starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def hello(request: Request) -> JSONResponse:
        return JSONResponse(BODY)

    return Starlette(routes=[Route(PATH, hello)])


APPS = {"fastapi": fastapi_app, "starlette": starlette_app}


def main(kind: str) -> None:
    import uvicorn

    app = APPS[kind]()
    # as mock_backend/cli.py's listen(): IPPROTO_TCP, or asyncio leaves Nagle on and each
    # keep-alive answer waits ~40 ms for the client's delayed ACK
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    sock.listen(2048)
    print(sock.getsockname()[1], flush=True)
    gc.freeze()
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in APPS:
        raise SystemExit(f"usage: hello_server.py {'|'.join(APPS)}")
    main(sys.argv[1])
