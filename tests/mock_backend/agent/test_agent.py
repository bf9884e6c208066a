from __future__ import annotations

import copy
import random
import re
import time
from typing import Any

import pytest

from mock_backend.agent.planning import (
    EDIT_COST,
    GENERATION_COST,
    AgentTiming,
    CallStep,
    EndStep,
    ResponseStep,
    RunPlan,
    SessionView,
    TextStep,
    UploadView,
    plan_run,
)
from mock_backend.agent.timeline import end_of, summarize
from mock_backend.openapi.spec import load_spec

SONG = UploadView("http://cdn.test/f1/song.mp3", "song.mp3", "audio", 180.02)
COVER = UploadView("http://cdn.test/f2/cover.jpg", "cover.jpg", "image", None, 1000, 1000)
CLIP = UploadView("http://cdn.test/f3/clip.mp4", "clip.mp4", "video", 240.5, 1920, 1080)

GUI_EN = (
    "click",
    "open the",
    "drag",
    "preview in timeline",
    "preview it in the timeline",
    "export",
)
GUI_ZH = ("点击", "打开", "拖拽", "导出")
CJK = re.compile(r"[\u4e00-\u9fff]")


def plan(message: str, view: SessionView | None = None, seed: int = 0, **timing: Any) -> RunPlan:
    return plan_run(message, view or SessionView(), random.Random(seed), AgentTiming(**timing))


def talkative(message: str, view: SessionView | None = None) -> RunPlan:
    """A plan for ``message`` that is sure to have its text (no silent close, no trailer)."""
    return plan(message, view, silent_edit_probability=0, trailing_issue_probability=0)


def tracks_by_role(draft: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {track["m"]["role"]: track for track in draft["t"]}


def generated_draft() -> dict[str, Any]:
    message = (
        "generate a 10 second video of a city timelapse with lo-fi BGM at 35% "
        "and the title 'Urban Dreams'"
    )
    draft = talkative(message).final_draft
    assert draft is not None
    return draft


# --- conversions -----------------------------------------------------------------------------

SEED_A2V = (
    "convert this audio track into a shareable video with a waveform visualizer "
    "and album art background"
)
AUDIO_TO_VIDEO = [
    SEED_A2V,
    "make a video from my song",
    "waveform",
    "add a visualizer",
    "convert my audio files",
    "把音频转成视频",
    "给这首歌做一个波形可视化视频",
]


@pytest.mark.parametrize("message", AUDIO_TO_VIDEO)
@pytest.mark.parametrize("with_cover", [True, False])
def test_audio_to_video(message: str, with_cover: bool) -> None:
    uploads = [SONG, COVER] if with_cover else [SONG]
    result = talkative(message, SessionView(uploads=uploads))
    assert (result.kind, result.intent, result.cost) == ("edit", "audio_to_video", EDIT_COST)
    draft = result.final_draft
    assert draft is not None
    roles = tracks_by_role(draft)
    assert [t["m"]["role"] for t in draft["t"]] == ["background", "visualizer", "main"]
    background = roles["background"]["sg"][0]["m"]
    if with_cover:
        assert (background["kind"], background["src"]) == ("image", COVER.cdn_url)
    else:
        assert (background["kind"], background["src"]) == ("generated", None)
    wave = roles["visualizer"]
    assert wave["tt"] == 0
    assert (wave["sg"][0]["m"]["kind"], wave["sg"][0]["m"]["src"]) == ("waveform", SONG.cdn_url)
    main = roles["main"]
    assert main["tt"] == 1
    assert main["sg"][0]["m"]["src"] == SONG.cdn_url
    assert {seg["d"] for t in draft["t"] for seg in t["sg"]} == {180_020}
    assert draft["d"] == 180_020
    assert draft["m"]["canvas"] == {"w": 1920, "h": 1080}
    assert draft["m"]["output"]["format"] == "mp4"


@pytest.mark.parametrize(
    "message",
    [
        "make a vertical video from my song",
        "waveform video, portrait",
        "visualizer in 9:16",
        "把音频转成竖屏视频",
    ],
)
def test_audio_to_video_portrait(message: str) -> None:
    draft = talkative(message, SessionView(uploads=[SONG])).final_draft
    assert draft is not None
    assert draft["m"]["canvas"] == {"w": 1080, "h": 1920}


EXTRACT = [
    "extract the audio from this video as an MP3 file",
    "audio only",
    "export audio only MP3",
    "convert my video files",
    "提取音频",
    "转成MP3",
    "把这个视频转为mp3",
]


@pytest.mark.parametrize("message", EXTRACT)
def test_extract_audio(message: str) -> None:
    result = talkative(message, SessionView(uploads=[SONG, CLIP]))
    assert (result.kind, result.intent, result.cost) == ("edit", "extract_audio", EDIT_COST)
    draft = result.final_draft
    assert draft is not None
    assert len(draft["t"]) == 1
    track = draft["t"][0]
    assert track["tt"] == 1
    assert [seg["m"]["src"] for seg in track["sg"]] == [CLIP.cdn_url]
    assert draft["d"] == track["sg"][0]["d"] == 240_500
    assert draft["m"]["output"]["format"] == "mp3"


def test_the_named_upload_wins() -> None:
    other = UploadView("http://cdn.test/f4/talk.mp4", "talk.mp4", "video", 12.0)
    draft = talkative(
        "extract the audio of clip.mp4", SessionView(uploads=[CLIP, other])
    ).final_draft
    assert draft is not None
    assert draft["t"][0]["sg"][0]["m"]["src"] == CLIP.cdn_url


@pytest.mark.parametrize(
    ("message", "view", "reason"),
    [
        ("make a video from my song", SessionView(), "needs_audio"),
        ("把音频转成视频", SessionView(uploads=[CLIP]), "needs_audio"),
        (
            "extract the audio from this video as an MP3 file",
            SessionView(uploads=[SONG]),
            "needs_video",
        ),
        ("提取音频", SessionView(), "needs_video"),
        ("add a title 'Urban Dreams'", SessionView(), "empty_draft"),
        ("剪到10秒", SessionView(), "empty_draft"),
    ],
)
def test_missing_input_is_refused_politely(message: str, view: SessionView, reason: str) -> None:
    result = talkative(message, view)
    assert (result.kind, result.intent, result.cost) == ("refuse", reason, 0)
    assert result.final_draft is None
    assert len(result.texts) == 1


# --- generation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "subject"),
    [
        ("generate a 10 second video of a city timelapse", "city timelapse"),
        ("生成一个10秒的城市延时视频", "城市延时"),
    ],
)
def test_generation_is_two_stage(message: str, subject: str) -> None:
    result = talkative(message)
    assert (result.kind, result.cost) == ("generate", GENERATION_COST)
    calls = [s for s in result.steps if isinstance(s, CallStep)]
    responses = [s for s in result.steps if isinstance(s, ResponseStep)]
    assert [c.name for c in calls] == ["generate_video", "enhance_video"]
    assert calls[0].at < responses[0].at < calls[1].at < responses[1].at
    raw, enhanced = responses[0].draft, responses[1].draft
    assert len(raw["t"]) == 1
    segment = raw["t"][0]["sg"][0]
    assert (segment["m"]["kind"], segment["m"]["src"], segment["m"]["name"]) == (
        "generated",
        None,
        subject,
    )
    assert raw["d"] == segment["d"] == 10_000
    roles = tracks_by_role(enhanced)
    assert set(roles) == {"main", "bgm", "title"}
    assert roles["bgm"]["tt"] == 1
    assert roles["bgm"]["sg"][0]["m"]["src"] is None
    assert roles["title"]["tt"] == 7
    assert roles["title"]["sg"][0]["d"] == 3_000
    assert enhanced["d"] == 10_000
    assert isinstance(result.steps[0], TextStep)  # "Generating…" comes first


def test_generation_follows_the_seed_summary() -> None:
    expected = (
        "Timeline (3 tracks): 1. Video: city timelapse (0-10s) 2. BGM: Lo-fi (0-10s, 35%) "
        '3. Title: "Urban Dreams" (0-3s)'
    )
    assert summarize(generated_draft(), "en") == expected


def test_generation_in_portrait() -> None:
    draft = talkative("generate a vertical 15 second video of waves").final_draft
    assert draft is not None
    assert (draft["m"]["canvas"], draft["d"]) == ({"w": 1080, "h": 1920}, 15_000)


# --- edits -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "text"),
    [
        ("add a title 'Night Drive'", "Night Drive"),
        ("加标题“夜行”", "夜行"),
        ("加个标题：夜行", "夜行"),
    ],
)
def test_add_title(message: str, text: str) -> None:
    base = talkative("extract the audio from this video", SessionView(uploads=[CLIP])).final_draft
    assert base is not None
    result = talkative(message, SessionView(draft=base))
    assert (result.kind, result.cost) == ("edit", EDIT_COST)
    draft = result.final_draft
    assert draft is not None
    title = tracks_by_role(draft)["title"]
    assert title["tt"] == 7
    assert title["sg"][0]["m"]["text"] == text
    assert (title["sg"][0]["s"], title["sg"][0]["d"]) == (0, 3_000)
    assert draft["m"]["title"] == text
    assert draft["d"] == base["d"]


@pytest.mark.parametrize(
    ("message", "name", "volume"),
    [("add lo-fi BGM at 35%", "Lo-fi", 0.35), ("加爵士背景音乐，音量20%", "Jazz", 0.2)],
)
def test_add_bgm(message: str, name: str, volume: float) -> None:
    base = generated_draft()
    base["t"] = [t for t in base["t"] if t["m"]["role"] != "bgm"]
    draft = talkative(message, SessionView(draft=base)).final_draft
    assert draft is not None
    bgm = tracks_by_role(draft)["bgm"]
    segment = bgm["sg"][0]
    assert bgm["tt"] == 1
    assert (segment["m"]["kind"], segment["m"]["src"], segment["m"]["name"]) == (
        "generated",
        None,
        name,
    )
    assert segment["m"]["volume"] == pytest.approx(volume)
    assert (segment["s"], segment["d"]) == (0, base["d"])


def test_bgm_from_the_users_song() -> None:
    draft = talkative(
        "add my song as background music", SessionView(generated_draft(), [SONG])
    ).final_draft
    assert draft is not None
    bgm = [t for t in draft["t"] if t["m"]["role"] == "bgm"]
    assert len(bgm) == 1
    assert bgm[0]["sg"][0]["m"]["src"] == SONG.cdn_url
    assert bgm[0]["sg"][0]["d"] == 10_000  # no longer than the video


@pytest.mark.parametrize(
    "message", ["trim to 4 seconds", "cut it down to 4s", "剪到4秒", "剪到四秒"]
)
def test_trim(message: str) -> None:
    draft = talkative(message, SessionView(draft=generated_draft())).final_draft
    assert draft is not None
    assert draft["d"] == 4_000
    assert max(seg["s"] + seg["d"] for t in draft["t"] for seg in t["sg"]) == 4_000
    assert tracks_by_role(draft)["title"]["sg"][0]["d"] == 3_000


def test_trim_beyond_the_end_changes_nothing() -> None:
    result = talkative("trim to 60 seconds", SessionView(draft=generated_draft()))
    assert (result.kind, result.cost, result.final_draft) == ("reply", 0, None)


@pytest.mark.parametrize(
    ("message", "text"),
    [('change the title to "Night Drive"', "Night Drive"), ("把标题改成夜行", "夜行")],
)
def test_change_text(message: str, text: str) -> None:
    draft = talkative(message, SessionView(draft=generated_draft())).final_draft
    assert draft is not None
    assert tracks_by_role(draft)["title"]["sg"][0]["m"]["text"] == text
    assert [t["m"]["role"] for t in draft["t"]].count("title") == 1


def test_several_edits_in_one_message_each_get_a_tool_call() -> None:
    base = talkative("extract the audio from this video", SessionView(uploads=[CLIP])).final_draft
    assert base is not None
    result = talkative("add a title 'Urban Dreams' and lo-fi BGM at 35%", SessionView(draft=base))
    assert [s.name for s in result.steps if isinstance(s, CallStep)] == ["add_text", "add_bgm"]
    assert {"title", "bgm"} <= set(tracks_by_role(result.final_draft or {"t": []}))


def test_edit_on_an_empty_timeline_starts_from_the_upload() -> None:
    result = talkative("add a title 'Hello'", SessionView(uploads=[CLIP]))
    assert [s.name for s in result.steps if isinstance(s, CallStep)] == [
        "add_to_timeline",
        "add_text",
    ]
    draft = result.final_draft
    assert draft is not None
    assert tracks_by_role(draft)["main"]["sg"][0]["m"]["src"] == CLIP.cdn_url


def test_plan_run_does_not_touch_the_session() -> None:
    view = SessionView(draft=generated_draft(), uploads=[SONG])
    before = copy.deepcopy(view.draft)
    plan("trim to 4 seconds and add my song as background music", view)
    assert view.draft == before


# --- replies and refusals --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "chinese"),
    [
        ("what can you do?", False),
        ("how do I export?", False),
        ("what's on my timeline?", False),
        ("hello", False),
        ("你能做什么？", True),
        ("怎么导出视频？", True),
    ],
)
def test_questions_get_a_text_reply_only(message: str, chinese: bool) -> None:
    view = SessionView(draft=generated_draft())
    result = talkative(message, view)
    assert (result.kind, result.cost, result.final_draft) == ("reply", 0, None)
    assert not any(isinstance(s, CallStep | ResponseStep) for s in result.steps)
    (text,) = result.texts
    assert bool(CJK.search(text)) is chinese


@pytest.mark.parametrize(
    ("message", "polite"),
    [
        ("book me a flight", "Sorry"),
        ("can you book me a flight to Paris?", "Sorry"),
        ("make it look better", "Sorry"),
        ("帮我订一张机票", "抱歉"),
    ],
)
def test_unknown_requests_leave_the_draft_alone(message: str, polite: str) -> None:
    result = talkative(message, SessionView(draft=generated_draft(), uploads=[SONG, CLIP]))
    assert (result.kind, result.intent, result.cost, result.final_draft) == (
        "refuse",
        "unknown",
        0,
        None,
    )
    assert polite in result.texts[0]


MESSAGES = [*AUDIO_TO_VIDEO, *EXTRACT, "generate a 10 second video of a city timelapse",
            "生成一个10秒的城市延时视频", "add a title 'X'", "加标题“夜行”", "add lo-fi BGM at 35%",
            "trim to 4 seconds", "剪到4秒", "trim it", "what can you do?", "你能做什么？",
            "how much does it cost?", "book me a flight", "帮我订一张机票",
            "trim to 60 seconds"]  # fmt: skip


@pytest.mark.parametrize("message", MESSAGES)
@pytest.mark.parametrize(
    "view", [SessionView(), SessionView(generated_draft(), [SONG, COVER, CLIP])]
)
def test_replies_assume_a_gui_and_follow_the_language(message: str, view: SessionView) -> None:
    result = talkative(message, view)
    assert result.texts
    for text in result.texts:
        if CJK.search(message):
            assert CJK.search(text)
            assert any(phrase in text for phrase in GUI_ZH), text
        else:
            assert not CJK.search(text)
            assert any(phrase in text.lower() for phrase in GUI_EN), text


# --- quirks, timing, determinism -------------------------------------------------------------


def edit_plans(seed: int, count: int = 1000) -> list[RunPlan]:
    rng = random.Random(seed)
    view = SessionView(draft=generated_draft(), uploads=[SONG, CLIP])
    messages = ["add a title 'X'", "extract the audio from this video", "make a video from my song",
                "剪到4秒", "add lo-fi BGM at 35%"]  # fmt: skip
    return [plan_run(messages[i % len(messages)], view, rng) for i in range(count)]


def test_about_30_percent_of_edit_runs_close_silently() -> None:
    plans = edit_plans(seed=2024)
    assert all(p.kind == "edit" for p in plans)
    silent = [p for p in plans if p.silent]
    assert 270 <= len(silent) <= 330
    for p in silent:
        assert not p.texts
        assert p.final_draft is not None
    for p in plans:
        assert bool(p.texts) is not p.silent


def test_the_same_seed_gives_the_same_plans() -> None:
    assert edit_plans(seed=7, count=200) == edit_plans(seed=7, count=200)
    assert edit_plans(seed=7, count=200) != edit_plans(seed=8, count=200)


def test_only_edits_close_silently() -> None:
    for message in ("what can you do?", "book me a flight", "generate a video of rain"):
        plans = [plan(message, seed=seed, silent_edit_probability=1.0) for seed in range(20)]
        assert all(p.texts and not p.silent for p in plans)


def test_quirk_probabilities_are_configurable() -> None:
    view = SessionView(uploads=[CLIP])
    always = [plan("audio only", view, seed, silent_edit_probability=1.0) for seed in range(50)]
    never = [plan("audio only", view, seed, silent_edit_probability=0.0) for seed in range(50)]
    assert all(p.silent for p in always)
    assert not any(p.silent for p in never)
    trailing = plan("hello", seed=1, trailing_issue_probability=1.0)
    assert trailing.trailing_issue
    assert trailing.texts[-1].startswith("I encountered a temporary issue")
    assert len(trailing.texts) == 2


def test_about_5_percent_of_replies_add_the_temporary_issue_line() -> None:
    rng = random.Random(99)
    plans = [plan_run("what can you do?", SessionView(), rng) for _ in range(1000)]
    assert 25 <= sum(p.trailing_issue for p in plans) <= 75


@pytest.mark.parametrize(
    ("message", "view", "bounds"),
    [
        ("what can you do?", SessionView(), (5, 15)),
        ("book me a flight", SessionView(), (5, 15)),
        ("extract the audio", SessionView(uploads=[CLIP]), (10, 30)),
        ("generate a video of rain", SessionView(), (100, 300)),
    ],
)
def test_durations_and_order(message: str, view: SessionView, bounds: tuple[int, int]) -> None:
    for seed in range(50):
        result = plan(message, view, seed)
        low, high = bounds
        assert low <= result.duration <= high
        times = [step.at for step in result.steps]
        assert times == sorted(times)
        assert times[0] > 0
        assert isinstance(result.steps[-1], EndStep)
        assert sum(isinstance(step, EndStep) for step in result.steps) == 1


def test_calls_and_responses_pair_up() -> None:
    for seed in range(30):
        result = plan("add a title 'A' and lo-fi BGM at 20%", SessionView(generated_draft()), seed)
        calls = [s for s in result.steps if isinstance(s, CallStep)]
        responses = [s for s in result.steps if isinstance(s, ResponseStep)]
        assert [c.call_id for c in calls] == [r.call_id for r in responses]
        assert len({c.call_id for c in calls}) == len(calls)
        for response in responses:
            assert response.response["draft"] is response.draft
            assert response.response["status"] == "success"


def test_drafts_match_the_contract() -> None:
    validator = load_spec().schema_validator("Draft")
    view = SessionView(generated_draft(), [SONG, COVER, CLIP])
    for message in MESSAGES:
        for step in plan(message, view).steps:
            if isinstance(step, ResponseStep):
                validator.validate(step.draft)
                assert step.draft["d"] == end_of(step.draft)


def test_a_minimal_draft_from_the_contract_is_edited() -> None:
    minimal = {"t": [{"tt": 0, "sg": [{"d": 5000}]}]}
    result = talkative("add a title 'X' and lo-fi BGM at 35%", SessionView(draft=minimal))
    draft = result.final_draft
    assert draft is not None
    load_spec().schema_validator("Draft").validate(draft)
    assert draft["d"] == 5000
    assert {"title", "bgm", "main"} == set(tracks_by_role(draft))
    assert minimal == {"t": [{"tt": 0, "sg": [{"d": 5000}]}]}


@pytest.mark.parametrize(("language", "chinese"), [("zh", True), ("zh-CN", True), ("en", False)])
def test_a_message_without_words_gets_the_session_language(language: str, chinese: bool) -> None:
    result = talkative("🎬🎬 123", SessionView(language=language))
    assert result.kind == "refuse"
    assert bool(CJK.search(result.texts[0])) is chinese


@pytest.mark.parametrize(
    "message",
    ["add " * 2000 + "title", "audio " * 1333, "a" * 8000, "一" * 8000, "1" * 8000, "'a' " * 2000],
    ids=["add-title", "audio", "letters", "zh-digits", "digits", "quotes"],
)
def test_long_hostile_messages_stay_cheap(message: str) -> None:
    # plan_run runs on the event loop: no pattern may go quadratic on an 8000-character message
    start = time.perf_counter()
    plan(message[:8000], SessionView(generated_draft(), [SONG, CLIP]))
    assert time.perf_counter() - start < 0.25
