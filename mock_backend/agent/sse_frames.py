"""Reading Server-Sent Events off the wire: one parser for every stream the project reads.

The framing follows the HTML standard's event-stream interpretation: lines end in ``\\r\\n``,
``\\n`` or a lone ``\\r`` (sse-starlette writes ``\\r\\n`` by default; a reader that split on
``"\\n\\n"`` alone called a correct server's events "cut"); a blank line dispatches the event;
``data`` lines join with ``\\n``; a line starting with ``:`` is a comment (keep-alive pings);
``event``, ``id`` and ``retry`` are kept as sent. An event whose only line is ``data:`` has the
data ``""`` (the agent's "still working" beat), and a block of comments alone is no event.

The journal (what the mock sent), the provider checks (what a server sends) and the tests read
streams through `SseParser`; the parser is incremental, so a chunk boundary may fall anywhere,
even between the ``\\r`` and ``\\n`` of one line ending, and each event is returned by the
chunk that completes it (a final ``\\r`` ends its line at once).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SseEvent", "SseParser"]


@dataclass(frozen=True)
class SseEvent:
    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class SseParser:
    """Feed it bytes as they arrive; it returns the events each chunk completed."""

    def __init__(self) -> None:
        self._bytes = b""  # an incomplete line (or a line ending cut after its \r)
        self._data: list[str] | None = None
        self._event = ""
        self._id: str | None = None
        self._retry: int | None = None
        self._fields = False  # the current block has any line at all (comments aside)
        self._block: list[str] = []  # the current block's lines, as sent
        self._after_cr = False  # the last chunk ended in \r

    @property
    def pending(self) -> bool:
        """True while part of an event has arrived and its end has not: a stream that ends
        now ends inside an event (a cut connection)."""
        return bool(self._bytes.strip(b"\r\n")) or self._fields

    def rest(self) -> str:
        """What arrived of the unfinished event, as sent (``data: {"ta`` for a cut one)."""
        lines = list(self._block)
        if self._bytes.strip(b"\r\n"):
            lines.append(self._bytes.decode("utf-8", "replace"))
        return "\n".join(lines)

    def feed(self, chunk: bytes) -> list[SseEvent]:
        events: list[SseEvent] = []
        if self._after_cr and chunk:
            self._after_cr = False
            if chunk[:1] == b"\n":  # the second half of a \r\n cut between two chunks
                chunk = chunk[1:]
        data = self._bytes + chunk
        start = 0
        size = len(data)
        while start < size:
            cr, lf = data.find(b"\r", start), data.find(b"\n", start)
            ends = [i for i in (cr, lf) if i >= 0]
            if not ends:
                break
            end = min(ends)
            if data[end] == 13:  # \r: with a \n right after, one line ending of two bytes
                if end + 1 == size:  # the \n may open the next chunk: skip it there
                    self._after_cr = True
                    step = 1
                else:
                    step = 2 if data[end + 1] == 10 else 1
            else:
                step = 1
            event = self._line(data[start:end].decode("utf-8", "replace"))
            if event is not None:
                events.append(event)
            start = end + step
        self._bytes = data[start:]
        return events

    def _line(self, line: str) -> SseEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        self._fields = True
        self._block.append(line)
        if name == "data":
            self._data = [*(self._data or []), value]
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> SseEvent | None:
        data, event, retry = self._data, self._event or "message", self._retry
        self._data, self._event, self._retry, self._fields = None, "", None, False
        self._block = []
        if data is None:
            return None
        return SseEvent("\n".join(data), event, self._id, retry)
