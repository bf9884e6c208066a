"""The emulated NemoVideo agent: a chat message and a session → a timed `RunPlan`.

`plan_run` is pure: it reads the session through a `SessionView`, draws every choice (durations,
ids, wording, quirks) from the ``rng`` it is given, and returns a plan the stream engine plays on
the virtual clock. The same rng state gives the same plan, byte for byte.

The plan is a time-ordered list of steps at virtual-second offsets from the start of the run:
text parts, function calls, function responses (which carry the draft to apply at that moment),
and the end. The quirks the skill documents warn about are decided here: about 30% of edit runs
close without any text, and about 5% of runs add "I encountered a temporary issue..." after the
normal reply. Draft building lives in `mock_backend.agent.timeline`, message reading in
`mock_backend.agent.intents`, wording in `mock_backend.agent.replies`.
"""

from __future__ import annotations

import random
import re
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from . import replies, timeline
from .intents import AddBgm, AddText, ChangeText, EditOp, Intent, Language, classify
from .timeline import Draft, Ids, UploadView

__all__ = [
    "EDIT_COST",
    "GENERATION_COST",
    "REFUSE_COST",
    "REPLY_COST",
    "AgentTiming",
    "CallStep",
    "EndStep",
    "PlanKind",
    "ResponseStep",
    "RunPlan",
    "SessionView",
    "Step",
    "TextStep",
    "UploadView",
    "plan_run",
]

# Credits a run costs (v1.9: "generation about 100 credits a clip, editing about 50"). The two
# conversions are edits. Sources price nothing else, so a text reply or a refusal is free: a
# client's credit bookkeeping then only has to follow the two documented prices.
GENERATION_COST = 100
EDIT_COST = 50
REPLY_COST = 0
REFUSE_COST = 0

PlanKind = Literal["reply", "edit", "generate", "refuse"]


@dataclass(frozen=True)
class SessionView:
    """What the agent may read of a session."""

    draft: Draft = field(default_factory=timeline.empty_draft)
    uploads: list[UploadView] = field(default_factory=list)
    language: str = "en"


@dataclass(frozen=True)
class AgentTiming:
    """Run lengths (virtual seconds, drawn uniformly) and the probabilities of the quirks."""

    reply: tuple[float, float] = (5.0, 15.0)
    edit: tuple[float, float] = (10.0, 30.0)
    generate: tuple[float, float] = (100.0, 300.0)
    silent_edit_probability: float = 0.30  # edit runs that close without any text (seed, v1.9)
    trailing_issue_probability: float = 0.05  # "I encountered a temporary issue..." (v1.9)


@dataclass(frozen=True)
class TextStep:
    at: float
    text: str


@dataclass(frozen=True)
class CallStep:
    at: float
    call_id: str
    name: str
    args: dict[str, Any]


@dataclass(frozen=True)
class ResponseStep:
    """A tool result; ``draft`` (also in ``response["draft"]``) is applied when it fires."""

    at: float
    call_id: str
    name: str
    response: dict[str, Any]
    draft: Draft


@dataclass(frozen=True)
class EndStep:
    at: float


Step = TextStep | CallStep | ResponseStep | EndStep


@dataclass(frozen=True)
class RunPlan:
    kind: PlanKind
    intent: str  # the classified intent, or the reason of a refusal ("needs_audio"…)
    language: Language
    cost: int
    steps: tuple[Step, ...]
    silent: bool = False  # an edit run that closes without text
    trailing_issue: bool = False

    @property
    def duration(self) -> float:
        return self.steps[-1].at

    @property
    def final_draft(self) -> Draft | None:
        """The draft the session holds after the run, or None when the run changes nothing."""
        drafts = [step.draft for step in self.steps if isinstance(step, ResponseStep)]
        return drafts[-1] if drafts else None

    @property
    def texts(self) -> list[str]:
        return [step.text for step in self.steps if isinstance(step, TextStep)]


@dataclass
class _Tool:
    name: str
    args: dict[str, Any]
    draft: Draft


@dataclass
class _Decision:
    kind: PlanKind
    intent: str
    text: str
    tools: list[_Tool] = field(default_factory=list)
    ack: str | None = None  # generation's opening line


def plan_run(
    message: str, view: SessionView, rng: random.Random, timing: AgentTiming | None = None
) -> RunPlan:
    """Decide what the agent does with ``message`` and when each part of it reaches the wire."""
    timing = timing or AgentTiming()
    intent = classify(message)
    if not _WORDS.search(message):  # nothing to tell the language by: the session's
        intent = replace(intent, language="zh" if view.language.startswith("zh") else "en")
    # The quirks are drawn first and always, so one rng draw order holds for every intent.
    silent_draw, trailing_draw = rng.random(), rng.random()
    ids = Ids(rng)
    view = replace(view, draft=timeline.normalize(view.draft, ids))
    decision = _decide(message, intent, view, ids, rng)
    silent = decision.kind == "edit" and silent_draw < timing.silent_edit_probability
    trailing = not silent and trailing_draw < timing.trailing_issue_probability
    steps = _schedule(decision, timing, rng, silent=silent, trailing=trailing, lang=intent.language)
    return RunPlan(
        kind=decision.kind,
        intent=decision.intent,
        language=intent.language,
        cost=_COSTS[decision.kind],
        steps=steps,
        silent=silent,
        trailing_issue=trailing,
    )


_WORDS = re.compile(r"[A-Za-z\u3400-\u9fff]")

_COSTS: dict[PlanKind, int] = {
    "reply": REPLY_COST,
    "edit": EDIT_COST,
    "generate": GENERATION_COST,
    "refuse": REFUSE_COST,
}


# --- deciding ----------------------------------------------------------------------------


def _decide(
    message: str, intent: Intent, view: SessionView, ids: Ids, rng: random.Random
) -> _Decision:
    lang = intent.language

    def say(key: str, /, **values: object) -> str:
        return replies.say(key, lang, rng, **values)

    def refuse(reason: str) -> _Decision:
        return _Decision("refuse", reason, say(reason))

    if intent.name == "audio_to_video":
        audio = _pick(view.uploads, "audio", message)
        if audio is None:
            return refuse("needs_audio")
        image = _pick(view.uploads, "image", message)
        draft = timeline.audio_to_video(audio, image, ids, portrait=intent.portrait, rng=rng)
        canvas = draft["m"]["canvas"]
        args: dict[str, Any] = {"audio": audio.cdn_url, "style": "waveform"}
        args |= {"background": image.cdn_url if image else None, "canvas": dict(canvas)}
        text = say(
            "audio_to_video",
            song=audio.filename,
            background=image.filename if image else replies.phrase("generated_cover", lang),
            size=f"{canvas['w']}x{canvas['h']}",
            length=timeline.format_seconds(draft["d"]),
        )
        return _Decision("edit", intent.name, text, [_Tool("audio_to_video", args, draft)])

    if intent.name == "extract_audio":
        video = _pick(view.uploads, "video", message)
        if video is None:
            return refuse("needs_video")
        draft = timeline.extract_audio(video, ids)
        args = {"video": video.cdn_url, "format": "mp3", "bitrate_kbps": 192}
        length = timeline.format_seconds(draft["d"])
        text = say("extract_audio", video=video.filename, length=length)
        return _Decision("edit", intent.name, text, [_Tool("extract_audio", args, draft)])

    if intent.name == "generate":
        return _generate(message, intent, ids, rng, say)

    if intent.name == "edit":
        return _edit(message, intent, view, ids, say)

    if intent.name == "question":
        summary = timeline.summarize(view.draft, lang)
        return _Decision(
            "reply", f"question:{intent.topic}", say(f"q_{intent.topic}", summary=summary)
        )
    if intent.name == "clarify":
        return _Decision("reply", f"clarify:{intent.topic}", say(f"clarify_{intent.topic}"))
    return refuse("unknown")


def _pick(uploads: list[UploadView], file_type: str, message: str) -> UploadView | None:
    """The upload the message names, else the latest of that type."""
    candidates = [upload for upload in uploads if upload.file_type == file_type]
    text = message.lower()
    named = [upload for upload in candidates if upload.filename.lower() in text]
    chosen = named or candidates
    return chosen[-1] if chosen else None


def _generate(
    message: str, intent: Intent, ids: Ids, rng: random.Random, say: replies.Say
) -> _Decision:
    lang = intent.language
    seconds = min(max(intent.seconds or 10.0, 1.0), 60.0)
    subject = intent.subject or replies.phrase("default_subject", lang)
    canvas = timeline.canvas(intent.portrait)
    raw = timeline.generated_video(subject, round(seconds * 1000), canvas, ids)
    title = _first_quoted_title(intent) or (subject.title() if lang == "en" else subject)
    bgm_op = next((op for op in intent.ops if isinstance(op, AddBgm)), None)
    style = (bgm_op.style if bgm_op else None) or rng.choice(timeline.GENERATION_STYLES)
    volume = (bgm_op.volume if bgm_op else None) or timeline.DEFAULT_BGM_VOLUME
    enhanced = timeline.add_bgm(raw, style, volume, None, ids)
    enhanced = timeline.add_text(enhanced, title, "title", "center", ids)
    tools = [
        _Tool(
            "generate_video", {"prompt": message, "duration_ms": raw["d"], "canvas": canvas}, raw
        ),
        _Tool("enhance_video", {"bgm": style, "bgm_volume": volume, "title": title}, enhanced),
    ]
    length = timeline.format_seconds(raw["d"])
    ack = say("generate_ack", subject=subject, length=length)
    text = say("generate", subject=subject, length=length, style=style, title=title)
    return _Decision("generate", intent.name, text, tools, ack=ack)


def _first_quoted_title(intent: Intent) -> str | None:
    for op in intent.ops:
        if isinstance(op, AddText | ChangeText) and op.text:
            return op.text
    return None


def _edit(message: str, intent: Intent, view: SessionView, ids: Ids, say: replies.Say) -> _Decision:
    lang = intent.language
    draft = view.draft  # already a private copy (normalize)
    tools: list[_Tool] = []
    changes: list[str] = []
    if not timeline.has_content(draft):
        seed = next((u for u in reversed(view.uploads) if u.file_type != "audio"), None)
        seed = seed or (view.uploads[-1] if view.uploads else None)
        if seed is None:
            return _Decision("refuse", "empty_draft", say("empty_draft"))
        draft = timeline.from_upload(seed, ids, portrait=intent.portrait)
        tools.append(_Tool("add_to_timeline", {"src": seed.cdn_url}, draft))
        changes.append(replies.phrase("placed", lang, name=seed.filename))
    for op in intent.ops:
        result = _apply(op, draft, view, ids, intent, message)
        if result is None:
            continue
        name, args, draft, change = result
        tools.append(_Tool(name, args, draft))
        changes.append(change)
    if not tools:
        length = timeline.format_seconds(draft["d"])
        return _Decision("reply", "nothing_to_do", say("nothing_to_trim", length=length))
    return _Decision("edit", "edit", say("edited", changes=replies.join(changes, lang)), tools)


def _apply(
    op: EditOp, draft: Draft, view: SessionView, ids: Ids, intent: Intent, message: str
) -> tuple[str, dict[str, Any], Draft, str] | None:
    """One edit on ``draft``: (tool name, args, new draft, what changed) or None for a no-op."""
    lang = intent.language
    if isinstance(op, AddText):
        text = op.text or timeline.default_title(draft, lang)
        new = timeline.add_text(draft, text, op.role, op.position, ids)
        args: dict[str, Any] = {"text": text, "role": op.role, "position": op.position}
        return "add_text", args, new, replies.phrase(f"added_{op.role}", lang, text=text)
    if isinstance(op, ChangeText):
        new = timeline.change_text(draft, op.text, op.role, ids)
        args = {"text": op.text, "role": op.role}
        return "update_text", args, new, replies.phrase("changed_text", lang, text=op.text)
    if isinstance(op, AddBgm):
        music = _pick(view.uploads, "audio", message) if op.use_upload else None
        existing = timeline.bgm_volume(draft)
        volume = op.volume if op.volume is not None else existing or timeline.DEFAULT_BGM_VOLUME
        if op.style is None and music is None and existing is not None:
            new = timeline.set_bgm_volume(draft, volume)
            percent = round(volume * 100)
            return (
                "set_volume",
                {"volume": volume},
                new,
                replies.phrase("volume", lang, pct=percent),
            )
        style = op.style or replies.phrase("default_bgm", lang)
        new = timeline.add_bgm(draft, style, volume, music, ids)
        name = music.filename if music else style
        args = {"style": style, "volume": volume, "src": music.cdn_url if music else None}
        change = replies.phrase("added_bgm", lang, name=name, pct=round(volume * 100))
        return "add_bgm", args, new, change
    target = round(op.seconds * 1000)
    if target <= 0 or target >= draft["d"]:
        return None
    new = timeline.trim(draft, target)
    length = timeline.format_seconds(target)
    return "trim", {"duration_ms": target}, new, replies.phrase("trimmed", lang, length=length)


# --- scheduling ----------------------------------------------------------------------------


def _schedule(
    decision: _Decision,
    timing: AgentTiming,
    rng: random.Random,
    *,
    silent: bool,
    trailing: bool,
    lang: Language,
) -> tuple[Step, ...]:
    u = rng.uniform
    span = {"reply": timing.reply, "refuse": timing.reply, "edit": timing.edit}
    total = u(*span.get(decision.kind, timing.generate))
    steps: list[Step] = []
    cursor = 0.0
    if decision.ack is not None:
        cursor = u(1.0, 3.0)
        steps.append(TextStep(cursor, decision.ack))
    if decision.tools:
        # Tool pairs share the run from its first second or two to a few seconds before the end.
        start = max(cursor, u(0.5, 2.0))
        stop = max(total - u(1.0, 3.0), start + 0.5)
        slot = (stop - start) / len(decision.tools)
        for index, tool in enumerate(decision.tools):
            call_id = "adk-" + str(uuid.UUID(int=rng.getrandbits(128), version=4))
            begin = start + slot * index
            steps.append(CallStep(begin + slot * u(0.0, 0.1), call_id, tool.name, tool.args))
            summary = timeline.summarize(tool.draft, lang)
            response = {"status": "success", "summary": summary, "draft": tool.draft}
            steps.append(ResponseStep(begin + slot, call_id, tool.name, response, tool.draft))
        cursor = stop
    total = max(total, cursor + 1.0)
    if not silent:
        at = cursor + u(0.2, 0.6) * (total - cursor) if decision.tools else total - u(0.3, 1.5)
        steps.append(TextStep(at, decision.text))
        if trailing:
            steps.append(TextStep((at + total) / 2, replies.say("trailing", lang, rng)))
    steps.append(EndStep(total))
    return tuple(steps)
