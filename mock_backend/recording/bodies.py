"""What a recording keeps of a body, worked out while the bytes stream past.

JSON and text are kept (parsed, secrets replaced); media is kept as its sha256 and size, and
written under ``media/`` only with ``--keep-media``; a multipart upload is kept part by part,
each part's file as media. Nothing here holds a media body in memory: a 500 MB upload is hashed
(and written, when asked) chunk by chunk as it is forwarded.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header

from .secrets import redact_json, redact_str

__all__ = ["TEXT_LIMIT", "MediaSink", "MultipartTap", "is_textual", "summarize_text"]

TEXT_LIMIT = 1024 * 1024  # a JSON or text body longer than this is kept as media (hash + size)


def is_textual(content_type: str | None) -> bool:
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    return kind in ("application/json", "application/problem+json", "text/plain", "text/html") or (
        kind.endswith("+json") or kind == "application/x-www-form-urlencoded"
    )


def summarize_text(raw: bytes, content_type: str | None) -> dict[str, Any] | None:
    """A textual body as kept: ``{json}`` when it parses, else ``{text}``; None when empty."""
    if not raw:
        return None
    text = raw.decode("utf-8", "replace")
    if "json" in (content_type or ""):
        try:
            return {"json": redact_json(json.loads(text))}
        except ValueError:
            pass
    return {"text": redact_str(text)}


class MediaSink:
    """Hashes a media body as it passes; with a folder, also writes it there as ``<sha256>``."""

    def __init__(self, content_type: str | None, folder: Path | None) -> None:
        self.content_type = content_type
        self.size = 0
        self._hash = hashlib.sha256()
        self._folder = folder
        self._file: Any = None
        if folder is not None:
            self._file = tempfile.NamedTemporaryFile(dir=folder, suffix=".part", delete=False)  # noqa: SIM115 - closed in close() or abandon()

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self._hash.update(chunk)
        if self._file is not None:
            self._file.write(chunk)

    def close(self) -> dict[str, Any]:
        digest = self._hash.hexdigest()
        media: dict[str, Any] = {"sha256": digest, "size": self.size}
        if self.content_type:
            media["content_type"] = self.content_type
        if self._file is not None and self._folder is not None:
            self._file.close()
            os.replace(self._file.name, self._folder / digest)
            media["file"] = f"media/{digest}"
            self._file = None
        return {"media": media}

    def abandon(self) -> None:
        if self._file is not None:
            self._file.close()
            Path(self._file.name).unlink(missing_ok=True)
            self._file = None


class MultipartTap:
    """Reads a multipart body as it streams past: each part's headers, its text when it is a
    plain field, its file as media."""

    def __init__(self, content_type: str, folder: Path | None) -> None:
        _, options = parse_options_header(content_type.encode("latin-1"))
        boundary = options.get(b"boundary", b"")
        self.parts: list[dict[str, Any]] = []
        self._folder = folder
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[str, str] = {}
        self._sink: MediaSink | None = None
        self._text = bytearray()
        self._parser = (
            MultipartParser(
                boundary,
                {
                    "on_part_begin": self._begin,
                    "on_part_data": self._data,
                    "on_part_end": self._end,
                    "on_header_field": self._field,
                    "on_header_value": self._value,
                    "on_header_end": self._header_end,
                    "on_headers_finished": self._headers_done,
                },
            )
            if boundary
            else None
        )

    def write(self, chunk: bytes) -> None:
        if self._parser is not None:
            try:
                self._parser.write(chunk)
            except Exception:  # a malformed body is the upstream's to refuse
                self._parser = None

    def close(self) -> dict[str, Any]:
        return {"multipart": self.parts}

    def _begin(self) -> None:
        self._headers, self._sink, self._text = {}, None, bytearray()

    def _field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        name = self._header_name.decode("latin-1").lower()
        self._headers[name] = self._header_value.decode("utf-8", "replace")
        self._header_name = self._header_value = b""

    def _headers_done(self) -> None:
        _, options = parse_options_header(self._headers.get("content-disposition", "").encode())
        if b"filename" in options:
            self._sink = MediaSink(self._headers.get("content-type"), self._folder)

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._sink is not None:
            self._sink.write(data[start:end])
        elif len(self._text) < TEXT_LIMIT:
            self._text += data[start:end]

    def _end(self) -> None:
        _, options = parse_options_header(self._headers.get("content-disposition", "").encode())
        part: dict[str, Any] = {"name": options.get(b"name", b"").decode("utf-8", "replace")}
        if b"filename" in options:
            part["filename"] = options[b"filename"].decode("utf-8", "replace")
        if self._sink is not None:
            part.update(self._sink.close())
        else:
            part["text"] = redact_str(self._text.decode("utf-8", "replace"))
        self.parts.append(part)
