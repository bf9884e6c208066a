"""The current project: its session id and task id, kept in ``session.json`` between commands
so that ``chat`` then ``export`` work on the same session. A session belongs to the API URL it
was made on; one made elsewhere reads as absent."""

from __future__ import annotations

from dataclasses import dataclass

from .config import ConfigStore

__all__ = ["SessionRef", "load_session", "save_session"]

SESSION_FILE = "session.json"


@dataclass(frozen=True)
class SessionRef:
    session_id: str
    task_id: str


def load_session(store: ConfigStore, api_url: str) -> SessionRef | None:
    saved = store.read_json(SESSION_FILE)
    if saved is None or saved.get("api_url") != api_url:
        return None
    session_id, task_id = saved.get("session_id"), saved.get("task_id")
    if isinstance(session_id, str) and session_id and isinstance(task_id, str) and task_id:
        return SessionRef(session_id, task_id)
    return None


def save_session(store: ConfigStore, api_url: str, session: SessionRef) -> None:
    store.write_json(
        SESSION_FILE,
        {"session_id": session.session_id, "task_id": session.task_id, "api_url": api_url},
    )
