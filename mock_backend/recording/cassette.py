"""A recording on disk: one readable YAML file per session, written as exchanges finish.

::

    DIR/recording.yaml          format, upstream, clock, whether media bodies were kept
    DIR/sessions/<key>.yaml     {session, exchanges: [...]}, in the order they started
    DIR/media/<sha256>          media bodies, only when recorded with --keep-media

A session is a NemoVideo session (``ses_…``): the call that created it, the calls that name it
in their path or body, and the render jobs submitted for it. Calls that belong to no session
(tokens, credits, files fetched from a CDN address) go to ``sessions/_outside.yaml``. One exchange::

    seq: 7                      # order of start across the whole recording
    at: 12.5                    # seconds on the recording clock since it started
    took: 0.4
    operation: runSse           # the contract's operationId; null outside the contract
    request:  {method, path, query, headers, body}
    response: {status, headers, body, events: [{at, data, event?, id?}], closed_at}

A body is ``{json: …}``, ``{text: …}``, ``{media: {sha256, size, content_type, file?}}`` or
``{multipart: [{name, filename?, content_type?, text? | media}]}``; secrets are already
replaced (`recording.secrets`) when an exchange reaches this module.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "FORMAT",
    "OUTSIDE",
    "Cassette",
    "CassetteError",
    "Recording",
    "SessionKeys",
    "load_recording",
]

FORMAT = "nemo-recording/1"
OUTSIDE = "_outside"
_SESSION_FIELDS = ("session_id", "sessionId")
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


class CassetteError(Exception):
    """A recording folder that cannot be read: missing, or not written by `nemo-mock record`."""


class SessionKeys:
    """Which session a call belongs to: the session it names (path or JSON body), else the
    session its render job was submitted for, else `OUTSIDE`."""

    def __init__(self) -> None:
        self._renders: dict[str, str] = {}

    def key(self, operation: str | None, params: dict[str, str], body: Any) -> str:
        for name in _SESSION_FIELDS:
            if isinstance(params.get(name), str):
                return params[name]
            if isinstance(body, dict) and isinstance(body.get(name), str):
                session = str(body[name])
                if operation == "submitRender" and isinstance(body.get("id"), str):
                    self._renders[body["id"]] = session
                return session
        render = params.get("render_id")
        if render is not None and render in self._renders:
            return self._renders[render]
        return OUTSIDE

    @staticmethod
    def opened(session: str, answer: Any) -> str:
        """The session a call belongs to once answered: a new session's creation opens its
        file (read alone, a session's file tells its story from the start)."""
        data = answer.get("data") if isinstance(answer, dict) else None
        created = data.get("session_id") if isinstance(data, dict) else None
        if session == OUTSIDE and isinstance(created, str) and _SAFE.sub("", created):
            return created
        return session


def _dump(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, width=100)


class Cassette:
    """Writes a recording; safe to call from the proxy's request tasks (one lock)."""

    def __init__(self, root: Path, *, upstream: str, clock: str, keep_media: bool) -> None:
        self.root = root
        self.keep_media = keep_media
        self._lock = threading.Lock()
        self._sessions: dict[str, list[dict[str, Any]]] = {}
        self._seq = 0
        (root / "sessions").mkdir(parents=True, exist_ok=True)
        if keep_media:
            (root / "media").mkdir(exist_ok=True)
        meta = {"format": FORMAT, "upstream": upstream, "clock": clock, "media_kept": keep_media}
        (root / "recording.yaml").write_text(_dump(meta), encoding="utf-8")

    def next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def media_path(self, sha256: str) -> Path:
        return self.root / "media" / sha256

    def add(self, session: str, exchange: dict[str, Any]) -> None:
        """Keep one finished exchange: its session's file is written again, whole."""
        with self._lock:
            exchanges = self._sessions.setdefault(session, [])
            exchanges.append(exchange)
            exchanges.sort(key=lambda e: int(e["seq"]))
            text = _dump({"session": session, "exchanges": exchanges})
            path = self.root / "sessions" / f"{_SAFE.sub('_', session)}.yaml"
            temporary = path.with_suffix(".yaml.part")
            temporary.write_text(text, encoding="utf-8")
            temporary.replace(path)


@dataclass
class Recording:
    """A recording read back: its metadata and each session's exchanges, in order."""

    root: Path
    meta: dict[str, Any]
    sessions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def upstream(self) -> str:
        return str(self.meta.get("upstream", ""))

    def exchanges(self) -> list[dict[str, Any]]:
        """Every exchange, in the order they started."""
        every = [e for exchanges in self.sessions.values() for e in exchanges]
        return sorted(every, key=lambda e: int(e["seq"]))

    def media_file(self, body: dict[str, Any]) -> Path | None:
        media = body.get("media") if isinstance(body, dict) else None
        if not isinstance(media, dict) or not media.get("file"):
            return None
        path = self.root / str(media["file"])
        return path if path.is_file() else None


def load_recording(root: Path) -> Recording:
    meta_path = root / "recording.yaml"
    if not meta_path.is_file():
        raise CassetteError(
            f"{root} is not a recording (no recording.yaml): make one with "
            "`nemo-mock record --upstream URL --out DIR`"
        )
    try:
        meta = yaml.safe_load(meta_path.read_text(encoding="utf-8")) or {}
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise CassetteError(f"{meta_path}: not a {FORMAT} recording")
        recording = Recording(root, meta)
        for path in sorted((root / "sessions").glob("*.yaml")):
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            exchanges = data.get("exchanges") if isinstance(data, dict) else None
            if not isinstance(exchanges, list):
                raise CassetteError(f"{path}: expected {{session, exchanges: [...]}}")
            recording.sessions[str(data.get("session", path.stem))] = exchanges
    except (OSError, yaml.YAMLError) as exc:
        raise CassetteError(f"cannot read the recording in {root}: {exc}") from None
    return recording
