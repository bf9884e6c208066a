"""Receiving files: multipart streamed to disk, limits enforced while reading, media measured.

A request is never held in memory: each part is written to the data folder chunk by chunk
while its sha256 is computed. The size limit is checked from ``Content-Length`` before a byte
is read, and again while streaming, so an oversized upload is refused (4002) without reading
the rest. The extension is checked as soon as a part's headers arrive (4001), the content after
it is stored, by really opening the file (``media.probe``).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urlsplit

from python_multipart.multipart import MultipartParser, parse_options_header

from ..errors import ApiError
from ..state.clock import Clock
from ..state.store import UploadRecord
from .file_kinds import (
    SUPPORTED_EXTENSIONS,
    UnsupportedMedia,
    expected_type,
    extension_supported,
)

__all__ = ["ReceivedFile", "receive_multipart", "register_urls", "store_received", "too_large"]

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def supported_list() -> list[str]:
    return sorted(SUPPORTED_EXTENSIONS)


def unsupported(filename: str, reason: str | None = None) -> ApiError:
    formats = ", ".join(supported_list())
    why = f" ({reason})" if reason else ""
    return ApiError(
        4001,
        f"{filename}: unsupported file type{why}; supported: {formats}",
        data={"field": "body.files", "supported": supported_list()},
    )


def too_large(filename: str, max_bytes: int) -> ApiError:
    mb = max_bytes // (1024 * 1024)
    return ApiError(
        4002,
        f"{filename} is larger than {mb} MB; compress or trim it first",
        data={"field": "body.files", "max_bytes": max_bytes},
    )


@dataclass
class ReceivedFile:
    filename: str
    path: Path
    size: int = 0
    sha256: Any = field(default_factory=hashlib.sha256)


class _Receiver:
    """python-multipart callbacks that write parts to ``folder`` and enforce the limits."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.files: list[ReceivedFile] = []
        self.total = 0
        self.error: ApiError | None = None
        # raw bytes: python-multipart's parse_options_header encodes a str as Latin-1, so a
        # Chinese or emoji file name failed; the name is decoded as UTF-8 once parsed
        self._headers: dict[str, bytes] = {}
        self._field = b""
        self._value = b""
        self._current: ReceivedFile | None = None
        self._handle: IO[bytes] | None = None
        self._other_field: str | None = None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._field.decode("latin-1").lower()] = self._value
        self._field = self._value = b""

    def on_headers_finished(self) -> None:
        disposition = self._headers.get("content-disposition", b"")
        self._headers = {}
        _, options = parse_options_header(disposition)
        name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        if name != "files":
            self._other_field = name
            self._fail(
                ApiError(
                    422,
                    f"body.{name or '?'}: unexpected form field; "
                    "send each file in a field named 'files'",
                    data={"field": f"body.{name}", "rule": "additionalProperties"},
                )
            )
            return
        if filename is None:
            self._fail(
                ApiError(
                    422,
                    "body.files: each part must be a file with a filename",
                    data={"field": "body.files", "rule": "filename"},
                )
            )
            return
        original = Path(filename.decode("utf-8", "replace").replace("\\", "/")).name or "upload"
        if not extension_supported(original):
            self._fail(unsupported(original))
            return
        safe = _SAFE.sub("_", original)
        slot = self.folder / f"{len(self.files):02d}"
        slot.mkdir(parents=True, exist_ok=True)
        self._current = ReceivedFile(filename=original, path=slot / safe)
        self._handle = self._current.path.open("wb")
        self.files.append(self._current)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._current is None or self._handle is None or self.error is not None:
            return
        chunk = data[start:end]
        self._current.size += len(chunk)
        self.total += len(chunk)
        if self.total > self.max_bytes:
            self._fail(too_large(self._current.filename, self.max_bytes))
            return
        self._current.sha256.update(chunk)
        self._handle.write(chunk)

    def on_part_end(self) -> None:
        self._close()
        self._current = None

    def _close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def _fail(self, error: ApiError) -> None:
        if self.error is None:
            self.error = error
        self._close()


async def receive_multipart(
    stream: AsyncIterator[bytes],
    content_type: str,
    content_length: int | None,
    folder: Path,
    max_bytes: int,
) -> list[ReceivedFile]:
    """Write every ``files`` part under ``folder``; raise the documented error on a violation."""
    if content_length is not None and content_length > max_bytes + 64 * 1024:
        raise too_large("the upload", max_bytes)
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise ApiError(
            422,
            "header.Content-Type: multipart/form-data needs a boundary",
            data={"field": "header.Content-Type", "rule": "boundary"},
        )
    receiver = _Receiver(folder, max_bytes)
    callbacks: Any = {
        "on_header_field": receiver.on_header_field,
        "on_header_value": receiver.on_header_value,
        "on_header_end": receiver.on_header_end,
        "on_headers_finished": receiver.on_headers_finished,
        "on_part_data": receiver.on_part_data,
        "on_part_end": receiver.on_part_end,
    }
    parser = MultipartParser(boundary, callbacks)
    try:
        async for chunk in stream:
            parser.write(chunk)
            if receiver.error is not None:
                break
        else:
            parser.finalize()
    except ApiError:
        raise
    except Exception as exc:  # python-multipart raises its own errors on malformed bodies
        receiver._close()
        shutil.rmtree(folder, ignore_errors=True)
        raise ApiError(
            422,
            f"body: malformed multipart body ({exc})",
            data={"field": "body", "rule": "multipart"},
        ) from None
    receiver._close()
    if receiver.error is not None:
        shutil.rmtree(folder, ignore_errors=True)
        raise receiver.error
    if not receiver.files:
        raise ApiError(
            422,
            "body.files: at least one file is required",
            data={"field": "body.files", "rule": "minItems"},
        )
    return receiver.files


async def store_received(
    received: list[ReceivedFile], file_ids: list[str], base_url: str, *, clock: Clock
) -> list[UploadRecord]:
    """Measure each received file (off the event loop) and turn it into an upload record."""
    from .probing import probe  # the media stack loads with the first upload

    records = []
    for item, file_id in zip(received, file_ids, strict=True):
        try:
            with clock.held():  # probing is real work: virtual time waits for it
                info = await asyncio.to_thread(probe, item.path, item.filename)
        except UnsupportedMedia as exc:
            for other in received:
                shutil.rmtree(other.path.parent, ignore_errors=True)
            raise unsupported(item.filename, exc.reason) from None
        records.append(
            UploadRecord(
                file_id=file_id,
                filename=item.filename,
                file_type=info.file_type,
                cdn_url=f"{base_url}/cdn/{file_id}/{quote(item.path.name)}",
                path=item.path,
                duration=None if info.duration is None else round(info.duration, 3),
                width=info.width,
                height=info.height,
                fps=None if info.fps is None else round(info.fps, 3),
                hash=item.sha256.hexdigest(),
                size=item.size,
            )
        )
    return records


def register_urls(urls: list[str], file_ids: list[str]) -> list[UploadRecord]:
    """URL uploads: the format rule applies; the mock never fetches, so nothing is measured."""
    records = []
    for url, file_id in zip(urls, file_ids, strict=True):
        name = Path(urlsplit(url).path).name or url
        if not extension_supported(name):
            raise unsupported(name, "from a URL")
        kind = expected_type(name) or "video"
        records.append(
            UploadRecord(
                file_id=file_id,
                filename=name,
                file_type=kind,
                cdn_url=url,
                path=None,
                duration=None,
                width=None,
                height=None,
                fps=None,
                hash=None,
                size=None,
            )
        )
    return records
