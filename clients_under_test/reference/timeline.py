"""The draft (timeline) in words: the documents' summary line and "what changed" messages.

Draft keys (seed documents): ``t`` tracks, ``tt`` track type (0 video, 1 audio, 7 text), ``sg``
segments, ``d`` duration in ms, ``m`` metadata. In this project a track is
``{"id", "tt", "sg", "m": {"name", "role"}}`` and a segment
``{"id", "s": start_ms, "d": dur_ms, "m": {"kind", "src", "name", "volume", "text"}}``.
Volume is read as a fraction when ≤ 1 (0.35 → 35%) and as a percentage above that.

    Timeline (3 tracks): 1. Video: city timelapse (0-10s) 2. BGM: Lo-fi (0-10s, 35%) 3. Title: "Urban Dreams" (0-3s)
"""  # noqa: E501

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import UnexpectedResponse
from .models import ProjectState

__all__ = ["Track", "describe_changes", "has_exportable_content", "parse_tracks", "summarize"]

VIDEO, AUDIO, TEXT = 0, 1, 7


@dataclass(frozen=True)
class Track:
    key: str  # the track id, or its position when the draft gives none
    type: int | None
    role: str | None
    label: str  # "Video", "BGM", "Audio", "Title", "Text"
    name: str
    start_ms: float
    end_ms: float
    volume: float | None
    segment_count: int

    def describe(self) -> str:
        span = f"{_seconds(self.start_ms)}-{_seconds(self.end_ms)}s"
        if self.volume is not None and self.type == AUDIO:
            span += f", {_percent(self.volume)}%"
        name = f'"{self.name}"' if self.type == TEXT else self.name
        return f"{self.label}: {name} ({span})"


def parse_tracks(draft: dict[str, Any]) -> list[Track]:
    tracks = draft.get("t") or []
    if not isinstance(tracks, list):
        raise _malformed("t")
    return [_track(raw, index) for index, raw in enumerate(tracks)]


def has_exportable_content(draft: dict[str, Any]) -> bool:
    """A draft is ready for export when a track has a non-empty ``sg``."""
    return any(track.segment_count > 0 for track in parse_tracks(draft))


def summarize(draft: dict[str, Any]) -> str:
    tracks = parse_tracks(draft)
    noun = "track" if len(tracks) == 1 else "tracks"
    if not tracks:
        return "Timeline (0 tracks): empty"
    items = " ".join(f"{n}. {track.describe()}" for n, track in enumerate(tracks, start=1))
    return f"Timeline ({len(tracks)} {noun}): {items}"


def describe_changes(before: ProjectState, after: ProjectState) -> list[str]:
    """One ``✅`` line per visible change from ``before`` to ``after``; empty when none."""
    changes: list[str] = []
    old = {track.key: track for track in parse_tracks(before.draft)}
    new = {track.key: track for track in parse_tracks(after.draft)}
    for key, track in new.items():
        if key not in old:
            changes.append(_added(track))
        elif track != old[key]:
            changes.append(_updated(old[key], track))
    changes.extend(f"✅ Track removed: {old[key].describe()}" for key in old if key not in new)
    old_duration, new_duration = _duration(before.draft), _duration(after.draft)
    if old_duration != new_duration and old_duration is not None and new_duration is not None:
        changes.append(
            f"✅ Duration changed: {_seconds(old_duration)}s → {_seconds(new_duration)}s"
        )
    added_media = len(after.generated_media) - len(before.generated_media)
    if added_media > 0:
        changes.append(f"✅ New media generated: {added_media} item(s)")
    added_files = len(after.video_infos) - len(before.video_infos)
    if added_files > 0:
        changes.append(f"✅ Media added to the project: {added_files} file(s)")
    if not changes and after != before:
        changes.append("✅ The project was updated.")
    return changes


def _added(track: Track) -> str:
    if track.type == TEXT:
        kind = "Title" if track.role in (None, "title") else "Text"
        return f'✅ {kind} added: "{track.name}"'
    return f"✅ Track added: {track.describe()}"


def _updated(old: Track, new: Track) -> str:
    if old.type == TEXT and new.type == TEXT and old.name != new.name:
        return f'✅ {new.label} changed: "{old.name}" → "{new.name}"'
    if old.describe() != new.describe():
        return f"✅ Track updated: {old.describe()} → {new.describe()}"
    return f"✅ Track updated: {new.describe()}"


def _track(raw: Any, index: int) -> Track:
    if not isinstance(raw, dict):
        raise _malformed("t[]")
    segments = raw.get("sg") or []
    if not isinstance(segments, list) or not all(isinstance(s, dict) for s in segments):
        raise _malformed("sg")
    meta = _meta(raw)
    track_type = raw.get("tt") if isinstance(raw.get("tt"), int) else None
    role = meta.get("role") if isinstance(meta.get("role"), str) else None
    first = _meta(segments[0]) if segments else {}
    starts = [_ms(s.get("s")) for s in segments]
    ends = [_ms(s.get("s")) + _ms(s.get("d")) for s in segments]
    volume: Any = first.get("volume")
    name_key = "text" if track_type == TEXT else "name"
    name = first.get(name_key) or meta.get("name") or first.get("name") or "untitled"
    raw_id = raw.get("id")
    return Track(
        key=str(raw_id) if raw_id is not None else f"#{index}",
        type=track_type,
        role=role,
        label=_label(track_type, role),
        name=str(name),
        start_ms=min(starts, default=0.0),
        end_ms=max(ends, default=0.0),
        volume=float(volume) if _is_number(volume) else None,
        segment_count=len(segments),
    )


def _label(track_type: int | None, role: str | None) -> str:
    if track_type == VIDEO:
        return "Video"
    if track_type == AUDIO:
        return "BGM" if role == "bgm" else "Audio"
    if track_type == TEXT:
        return "Title" if role in (None, "title") else "Text"
    return "Track"


def _meta(raw: dict[str, Any]) -> dict[str, Any]:
    meta = raw.get("m")
    return meta if isinstance(meta, dict) else {}


def _duration(draft: dict[str, Any]) -> float | None:
    if _is_number(draft.get("d")):
        return float(draft["d"])
    ends = [track.end_ms for track in parse_tracks(draft)]
    return max(ends) if ends else None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _ms(value: Any) -> float:
    return float(value) if _is_number(value) else 0.0


def _seconds(ms: float) -> str:
    return f"{round(ms / 1000, 1):g}"


def _percent(volume: float) -> str:
    return f"{round(volume * 100 if volume <= 1 else volume):g}"


def _malformed(field: str) -> UnexpectedResponse:
    return UnexpectedResponse(
        f"The project's timeline has a malformed `{field}`; it cannot be summarized or exported."
    )
