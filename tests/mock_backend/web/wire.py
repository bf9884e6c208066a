"""HTTP/1.1 on a raw socket, for tests that send what httpx would refuse or tidy: repeated
headers, broken bodies, a client that hangs up half-way; and read the reply exactly as sent."""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Hang", "Raw", "Reply", "exchange", "show"]


@dataclass(frozen=True)
class Raw:
    """One HTTP/1.1 request as it goes on the wire: repeated headers and broken bodies too."""

    method: str
    target: str  # path and query, percent-encoded as sent
    headers: tuple[tuple[str, bytes], ...] = ()
    body: bytes = b""
    hang_up: bool = False  # send half the body, then close: a client that went away

    def filled(self, fill: Callable[[bytes], bytes]) -> Raw:
        """The same request with ``fill`` applied to its target, header values and body."""
        return dataclasses.replace(
            self,
            target=fill(self.target.encode()).decode(),
            headers=tuple((name, fill(value)) for name, value in self.headers),
            body=fill(self.body),
        )

    def wire(self, host: str) -> bytes:
        head = [f"{self.method} {self.target} HTTP/1.1".encode(), b"Host: " + host.encode()]
        head += [name.encode() + b": " + value for name, value in self.headers]
        if self.body or self.method in ("POST", "PUT", "PATCH"):
            head.append(b"Content-Length: %d" % len(self.body))
        head.append(b"Connection: close")
        return b"\r\n".join(head) + b"\r\n\r\n" + self.body

    def __str__(self) -> str:
        lines = [f"{self.method} {self.target}"]
        lines += [f"{name}: {show(value)}" for name, value in self.headers]
        if self.body:
            lines.append(f"body ({len(self.body)} bytes): {show(self.body)}")
        if self.hang_up:
            lines.append("(the client hung up half-way through the body)")
        return "\n    ".join(lines)


def show(data: bytes, limit: int = 300) -> str:
    text = repr(data)
    return text if len(text) <= limit else text[:limit] + "..."


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names; the last of repeated ones
    body: bytes  # de-chunked; of an event stream, only what came with the headers


class Hang(AssertionError):
    """No complete answer in time."""


def exchange(port: int, request: Raw, timeout: float) -> Reply | None:
    """Send ``request`` on a new connection: the reply, or None when the client hung up;
    `Hang` when no whole reply came within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        wire = request.wire(f"127.0.0.1:{port}")
        if request.hang_up:
            sock.sendall(wire[: len(wire) - (len(request.body) + 1) // 2])
            return None
        # the server may answer before it has read everything: then read what it said
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(wire)
        data = b""
        while (reply := parse_reply(data, request.method, eof=False)) is None:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                raise Hang(f"no complete answer in {timeout} s to\n    {request}") from None
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                reply = parse_reply(data, request.method, eof=True)
                assert reply is not None, f"the connection closed mid-answer to\n    {request}"
                break
            data += chunk
    return reply


def parse_reply(data: bytes, method: str, *, eof: bool) -> Reply | None:
    """The reply in ``data`` once it is complete (an interim 100 Continue skipped)."""
    head, found, rest = data.partition(b"\r\n\r\n")
    if not found:
        return None
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    if 100 <= status < 200:
        return parse_reply(rest, method, eof=eof)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if method == "HEAD" or status in (204, 304):
        return Reply(status, headers, b"")
    if headers.get("content-type", "").startswith("text/event-stream"):
        return Reply(status, headers, rest)  # an endless stream: its headers are the answer
    if "content-length" in headers:
        size = int(headers["content-length"])
        return Reply(status, headers, rest[:size]) if len(rest) >= size else None
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = dechunk(rest)
        return None if body is None else Reply(status, headers, body)
    return Reply(status, headers, rest) if eof else None


def dechunk(data: bytes) -> bytes | None:
    out, pos = b"", 0
    while (end := data.find(b"\r\n", pos)) >= 0:
        size = int(data[pos:end].split(b";")[0], 16)
        if size == 0:
            return out
        if len(data) < end + 2 + size + 2:
            return None
        out += data[end + 2 : end + 2 + size]
        pos = end + 2 + size + 2
    return None
