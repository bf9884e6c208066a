"""Building and editing drafts (the timeline JSON) for the emulated agent.

Every function is pure: it returns a new draft and never changes the one it is given. The shape
is the one openapi.yaml's ``Draft`` describes and the render engine reads::

    {"t": [track], "d": end_ms, "m": {"canvas": {"w", "h"}, "output": {"format"}, "title"?}}
    track   {"id": "trk_…", "tt": 0|1|7, "sg": [segment], "m": {"name", "role"}}
    segment {"id": "seg_…", "s": start_ms, "d": ms, "m": {kind, src, name, in, volume, color?}
                                                       or {text, position}}

``d`` is always the end of the last segment.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "DEFAULT_BGM_VOLUME",
    "GENERATION_STYLES",
    "Draft",
    "Ids",
    "UploadView",
    "add_bgm",
    "add_text",
    "audio_to_video",
    "bgm_volume",
    "canvas",
    "change_text",
    "default_title",
    "empty_draft",
    "end_of",
    "extract_audio",
    "format_seconds",
    "from_upload",
    "generated_video",
    "has_content",
    "normalize",
    "set_bgm_volume",
    "summarize",
    "trim",
]

Draft = dict[str, Any]
FileType = Literal["video", "audio", "image"]

DEFAULT_BGM_VOLUME = 0.3
GENERATION_STYLES = ("Lo-fi", "Upbeat", "Cinematic", "Chill")
UNKNOWN_AUDIO_MS = 30_000  # an upload whose duration was not measured (URL uploads)
IMAGE_MS = 5_000
TITLE_MS = 3_000
_WAVE_COLORS = ("#36c5f0", "#ffffff", "#f2c94c", "#eb5757", "#6fcf97")


@dataclass(frozen=True)
class UploadView:
    """One uploaded file as the agent sees it (``duration`` in seconds)."""

    cdn_url: str
    filename: str
    file_type: FileType
    duration: float | None = None
    width: int | None = None
    height: int | None = None

    def duration_ms(self, default: int = UNKNOWN_AUDIO_MS) -> int:
        return round(self.duration * 1000) if self.duration else default


class Ids:
    """Track and segment ids drawn from the plan's rng."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def track(self) -> str:
        return f"trk_{self._rng.getrandbits(48):012x}"

    def segment(self) -> str:
        return f"seg_{self._rng.getrandbits(48):012x}"


def canvas(portrait: bool) -> dict[str, int]:
    return {"w": 1080, "h": 1920} if portrait else {"w": 1920, "h": 1080}


def empty_draft(fmt: str = "mp4", portrait: bool = False) -> Draft:
    return {"t": [], "d": 0, "m": {"canvas": canvas(portrait), "output": {"format": fmt}}}


def normalize(draft: Draft, ids: Ids) -> Draft:
    """A copy of ``draft`` with every key this module reads (the contract requires only ``t``,
    ``tt``, ``sg`` and a segment's ``d``); missing ids are drawn from ``ids``."""
    new = copy.deepcopy(draft) if isinstance(draft, dict) else {}
    meta = new.setdefault("m", {})
    meta.setdefault("canvas", canvas(False))
    meta.setdefault("output", {"format": "mp4"})
    tracks: list[dict[str, Any]] = new["t"] if isinstance(new.get("t"), list) else []
    new["t"] = tracks
    for track in tracks:
        track.setdefault("id", ids.track())
        track.setdefault("sg", [])
        track_meta = track.setdefault("m", {})
        role = {0: "main", 1: "main"}.get(track.get("tt", 0), "text")
        track_meta.setdefault("role", role)
        track_meta.setdefault("name", role.title())
        for segment in track["sg"]:
            segment.setdefault("id", ids.segment())
            segment.setdefault("s", 0)
            segment.setdefault("d", 0)
            segment.setdefault("m", {})
    return _finish(new)


def end_of(draft: Draft) -> int:
    ends = [seg["s"] + seg["d"] for track in draft.get("t", []) for seg in track.get("sg", [])]
    return max(ends, default=0)


def has_content(draft: Draft) -> bool:
    """Ready for export: some track has a segment (v1.9)."""
    return any(track.get("sg") for track in draft.get("t", []))


def _media(
    kind: str, src: str | None, name: str, *, volume: float = 1.0, color: str | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"kind": kind, "src": src, "name": name, "in": 0, "volume": volume}
    if color is not None:
        meta["color"] = color
    return meta


def _track(
    ids: Ids, tt: int, role: str, name: str, start: int, length: int, meta: dict[str, Any]
) -> dict[str, Any]:
    segment = {"id": ids.segment(), "s": start, "d": length, "m": meta}
    return {"id": ids.track(), "tt": tt, "sg": [segment], "m": {"name": name, "role": role}}


def _finish(draft: Draft) -> Draft:
    draft["d"] = end_of(draft)
    return draft


def audio_to_video(
    audio: UploadView, image: UploadView | None, ids: Ids, *, portrait: bool, rng: random.Random
) -> Draft:
    """Album art (or a generated cover) under a waveform of the song, the song as soundtrack."""
    length = audio.duration_ms()
    draft = empty_draft("mp4", portrait)
    if image is not None:
        cover = _media("image", image.cdn_url, image.filename, volume=0.0)
    else:
        cover = _media("generated", None, "Cover", volume=0.0)
    wave = _media("waveform", audio.cdn_url, "Waveform", volume=0.0, color=rng.choice(_WAVE_COLORS))
    draft["t"] = [
        _track(ids, 0, "background", "Album art", 0, length, cover),
        _track(ids, 0, "visualizer", "Waveform visualizer", 0, length, wave),
        _track(
            ids,
            1,
            "main",
            audio.filename,
            0,
            length,
            _media("audio", audio.cdn_url, audio.filename),
        ),
    ]
    draft["m"]["title"] = audio.filename.rsplit(".", 1)[0]
    return _finish(draft)


def extract_audio(video: UploadView, ids: Ids) -> Draft:
    """The video's sound alone, for an MP3."""
    draft = empty_draft("mp3")
    meta = _media("audio", video.cdn_url, video.filename)
    draft["t"] = [_track(ids, 1, "main", video.filename, 0, video.duration_ms(), meta)]
    draft["m"]["title"] = video.filename.rsplit(".", 1)[0]
    return _finish(draft)


def generated_video(subject: str, length: int, size: dict[str, int], ids: Ids) -> Draft:
    """Stage one of generation: the raw clip, no source file yet."""
    draft = empty_draft("mp4")
    draft["m"]["canvas"] = dict(size)
    draft["t"] = [_track(ids, 0, "main", subject, 0, length, _media("generated", None, subject))]
    return _finish(draft)


def from_upload(upload: UploadView, ids: Ids, *, portrait: bool) -> Draft:
    """A first draft holding one uploaded file, for an edit on an empty timeline."""
    tall = bool(upload.width and upload.height and upload.height > upload.width)
    draft = empty_draft("mp4", portrait or tall)
    meta = _media(upload.file_type, upload.cdn_url, upload.filename)
    if upload.file_type == "audio":
        track = _track(ids, 1, "main", upload.filename, 0, upload.duration_ms(), meta)
    elif upload.file_type == "image":
        meta["volume"] = 0.0
        track = _track(ids, 0, "main", upload.filename, 0, IMAGE_MS, meta)
    else:
        track = _track(ids, 0, "main", upload.filename, 0, upload.duration_ms(), meta)
    draft["t"] = [track]
    return _finish(draft)


def _role_track(draft: Draft, tt: int, role: str | None) -> dict[str, Any] | None:
    tracks = [t for t in draft["t"] if t["tt"] == tt and t["sg"]]
    exact = [t for t in tracks if t.get("m", {}).get("role") == role]
    chosen: list[dict[str, Any]] = exact or ([] if role == "bgm" else tracks)
    return chosen[0] if chosen else None


def add_text(draft: Draft, text: str, role: str, position: str, ids: Ids) -> Draft:
    """A title (the first 3 s) or a caption (the whole video); replaces an existing one."""
    new = copy.deepcopy(draft)
    existing = next((t for t in new["t"] if t["tt"] == 7 and t["m"].get("role") == role), None)
    if existing is not None and existing["sg"]:
        existing["sg"][0]["m"] = {"text": text, "position": position}
    else:
        end = end_of(new) or TITLE_MS
        length = min(TITLE_MS, end) if role == "title" else end
        name = "Title" if role == "title" else "Text"
        new["t"].append(_track(ids, 7, role, name, 0, length, {"text": text, "position": position}))
    if role == "title":
        new["m"]["title"] = text
    return _finish(new)


def change_text(draft: Draft, text: str, role: str, ids: Ids) -> Draft:
    new = copy.deepcopy(draft)
    track = _role_track(new, 7, role)
    if track is None:
        return add_text(draft, text, role, "center" if role == "title" else "bottom", ids)
    track["sg"][0]["m"]["text"] = text
    if track["m"].get("role") == "title":
        new["m"]["title"] = text
    return _finish(new)


def bgm_volume(draft: Draft) -> float | None:
    track = _role_track(draft, 1, "bgm")
    return None if track is None else float(track["sg"][0]["m"].get("volume", 1.0))


def set_bgm_volume(draft: Draft, volume: float) -> Draft:
    new = copy.deepcopy(draft)
    track = _role_track(new, 1, "bgm")
    if track is not None:
        for segment in track["sg"]:
            segment["m"]["volume"] = volume
    return new


def add_bgm(draft: Draft, style: str, volume: float, music: UploadView | None, ids: Ids) -> Draft:
    """Background music under the whole video: the user's song, or a generated ``style`` track."""
    new = copy.deepcopy(draft)
    new["t"] = [t for t in new["t"] if not (t["tt"] == 1 and t["m"].get("role") == "bgm")]
    end = end_of(new)
    if music is not None:
        meta = _media("audio", music.cdn_url, music.filename, volume=volume)
        track = _track(ids, 1, "bgm", music.filename, 0, min(music.duration_ms(end), end), meta)
    else:
        track = _track(
            ids, 1, "bgm", style, 0, end, _media("generated", None, style, volume=volume)
        )
    new["t"].append(track)
    return _finish(new)


def trim(draft: Draft, target_ms: int) -> Draft:
    """Cut everything after ``target_ms``; tracks left empty disappear."""
    new = copy.deepcopy(draft)
    for track in new["t"]:
        kept = [seg for seg in track["sg"] if seg["s"] < target_ms]
        for segment in kept:
            segment["d"] = min(segment["d"], target_ms - segment["s"])
        track["sg"] = kept
    new["t"] = [track for track in new["t"] if track["sg"]]
    return _finish(new)


def default_title(draft: Draft, lang: str) -> str:
    if draft.get("m", {}).get("title"):
        return str(draft["m"]["title"])
    main = _role_track(draft, 0, "main")
    if main is not None:
        return str(main["sg"][0]["m"].get("name", "")).rsplit(".", 1)[0] or "My Video"
    return "我的视频" if lang == "zh" else "My Video"


def format_seconds(ms: int) -> str:
    return f"{ms / 1000:.1f}".removesuffix(".0") + "s"


_LABELS = {
    "en": {"visualizer": "Visualizer", "background": "Background", "video": "Video",
           "image": "Image", "bgm": "BGM", "audio": "Audio", "title": "Title", "text": "Text"},
    "zh": {"visualizer": "波形", "background": "背景", "video": "视频", "image": "图片",
           "bgm": "背景音乐", "audio": "音频", "title": "标题", "text": "文字"},
}  # fmt: skip


def _label(track: dict[str, Any]) -> str:
    role = track.get("m", {}).get("role", "")
    if track["tt"] == 7:
        return "title" if role == "title" else "text"
    if track["tt"] == 1:
        return "bgm" if role == "bgm" else "audio"
    if role in ("visualizer", "background"):
        return str(role)
    return "image" if track["sg"][0]["m"].get("kind") == "image" else "video"


def summarize(draft: Draft, lang: str) -> str:
    """The seed's one-line summary: ``Timeline (3 tracks): 1. Video: city timelapse (0-10s) …``."""
    labels = _LABELS["zh" if lang == "zh" else "en"]
    tracks = [track for track in draft.get("t", []) if track.get("sg")]
    items = []
    for number, track in enumerate(tracks, 1):
        segments = track["sg"]
        meta = segments[0]["m"]
        name = f'"{meta["text"]}"' if "text" in meta else meta.get("name", "")
        start = min(seg["s"] for seg in segments) // 1000
        end = max(seg["s"] + seg["d"] for seg in segments)
        span = f"{start}-{format_seconds(end)}"
        if track["tt"] == 1:
            span += f", {round(meta.get('volume', 1.0) * 100)}%"
        separator = "：" if lang == "zh" else ": "
        items.append(f"{number}. {labels[_label(track)]}{separator}{name} ({span})")
    if lang == "zh":
        return f"时间线（{len(tracks)} 条轨道）：" + (" ".join(items) or "空")
    noun = "track" if len(tracks) == 1 else "tracks"
    return f"Timeline ({len(tracks)} {noun}): " + (" ".join(items) or "empty")
