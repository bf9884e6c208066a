"""What the emulated agent says, in English and Chinese.

The real backend writes for its web editor, so its replies name buttons, panels and gestures
("click the Export button", "open the Tracks panel", "drag the clip", "preview in timeline";
点击, 打开, 拖拽, 导出). A compatible client translates these into API actions; the mock keeps
them so that translation is exercised. Each key has a few wordings; the plan's rng picks one.
"""

from __future__ import annotations

import random
from typing import Protocol

__all__ = ["Say", "join", "phrase", "say"]


class Say(Protocol):
    def __call__(self, key: str, /, **values: object) -> str: ...


_EXPORT_EN = "click the Export button to download"
_EXPORT_ZH = "点击「导出」按钮下载"

_TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "audio_to_video": {
        "en": (
            "Done! I turned {song} into a {size} video with a waveform visualizer over "
            "{background} ({length}). Preview it in the timeline, then " + _EXPORT_EN + " the MP4.",
            "Your music video is ready: {song} plays over {background} with a waveform "
            "visualizer ({length}, {size}). Open the Tracks panel to adjust the visualizer, "
            "or click the Export button to render the MP4.",
        ),
        "zh": (
            "完成！已将 {song} 转成 {size} 的视频，波形可视化叠加在{background}上（{length}）。"
            "请在时间线中预览，然后" + _EXPORT_ZH + " MP4。",
            "音乐视频已生成：{song} 配上{background}和波形可视化（{length}，{size}）。"
            "打开「轨道」面板可调整波形，或点击「导出」按钮渲染 MP4。",
        ),
    },
    "extract_audio": {
        "en": (
            "I've extracted the audio from {video} ({length}). Click the Export button and "
            "choose MP3 to download it.",
            "The audio track of {video} is on your timeline ({length}). Preview it in the "
            "timeline, then click the Export button to get your MP3 (192 kbps).",
        ),
        "zh": (
            "已从 {video} 中提取音频（{length}）。点击「导出」按钮并选择 MP3 即可下载。",
            "{video} 的音轨已放到时间线上（{length}）。"
            "预览后点击「导出」按钮获取 MP3（192 kbps）。",
        ),
    },
    "edited": {
        "en": (
            "Done! I {changes}. Preview in timeline to check it, then click the Export button "
            "when you're ready.",
            "I've updated your project: I {changes}. Open the Tracks panel to fine-tune, or "
            "drag the clip to adjust its timing.",
        ),
        "zh": (
            "完成！已{changes}。请在时间线中预览，满意后点击「导出」按钮。",
            "已更新项目：{changes}。打开「轨道」面板可微调，也可以拖拽片段调整时间。",
        ),
    },
    "generate_ack": {
        "en": (
            'Sure! Generating a {length} video: "{subject}". This usually takes a few minutes; '
            "keep this tab open and preview it in the timeline when it's done.",
        ),
        "zh": (
            "好的！正在生成 {length} 的「{subject}」视频，通常需要几分钟。"
            "请不要关闭页面，完成后点击预览。",
        ),
    },
    "generate": {
        "en": (
            'Your video is ready! I generated "{subject}" ({length}), then added {style} '
            'background music and the title "{title}". Preview in timeline, then '
            + _EXPORT_EN
            + ".",
            'Here you go: "{subject}" ({length}) with {style} BGM and the title "{title}". Open '
            "the Tracks panel to tweak it, or click the Export button to render the MP4.",
        ),
        "zh": (
            "视频已生成！先生成了「{subject}」（{length}），又加上了 {style} 背景音乐和标题"
            "「{title}」。请在时间线中预览，然后" + _EXPORT_ZH + "。",
        ),
    },
    "nothing_to_trim": {
        "en": (
            "Your video is already {length}, so there's nothing to trim. Preview in timeline "
            "to check it, or drag the clip's edge to shorten it further.",
        ),
        "zh": ("视频只有 {length}，无需剪辑。可在时间线中预览，或拖拽片段边缘进一步缩短。",),
    },
    "clarify_trim": {
        "en": (
            'How long should the video be? Tell me a length like "trim to 10 seconds", or '
            "drag the clip's edge in the timeline.",
        ),
        "zh": ("视频要剪到多长？请告诉我时长，例如「剪到10秒」，或在时间线上拖拽片段边缘。",),
    },
    "clarify_title": {
        "en": (
            "What should the title say? Tell me the text, or click the title in the preview "
            "to edit it.",
        ),
        "zh": ("标题要写什么？请告诉我文字内容，或在预览中点击标题直接编辑。",),
    },
    "q_greeting": {
        "en": (
            "Hi! I'm your NemoVideo assistant. Click the Upload button to add a file, or tell "
            "me what you'd like to create.",
        ),
        "zh": ("你好！我是 NemoVideo 助手。点击「上传」按钮添加文件，或告诉我你想做什么。",),
    },
    "q_export": {
        "en": (
            "When your project is ready, click the Export button in the top right corner. The "
            "MP4 renders in 30-90 seconds and a download link appears.",
        ),
        "zh": ("项目完成后，点击右上角的「导出」按钮。渲染需要 30-90 秒，完成后会出现下载链接。",),
    },
    "q_credits": {
        "en": (
            "Open Account > Billing to check your credits. Generating a clip costs about 100 "
            "credits and an editing session about 50; export is free.",
        ),
        "zh": ("打开「账户 > 账单」查看积分。生成一个视频约 100 积分，编辑约 50 积分，导出免费。",),
    },
    "q_tracks": {
        "en": ("Open the Tracks panel to see everything on your timeline. {summary}",),
        "zh": ("打开「轨道」面板即可查看时间线上的所有内容。{summary}",),
    },
    "q_formats": {
        "en": (
            "I accept mp4, mov, avi, webm, mkv, jpg, png, gif, webp, mp3, wav, m4a and aac. "
            "Click the Upload button or drag your files into the workspace.",
        ),
        "zh": (
            "支持 mp4、mov、avi、webm、mkv、jpg、png、gif、webp、mp3、wav、m4a 和 aac。"
            "点击「上传」按钮或将文件拖拽到工作区。",
        ),
    },
    "q_capabilities": {
        "en": (
            "I can turn a song into a video with a waveform visualizer, extract the audio of a "
            "video as an MP3, generate videos from a description, and add titles, background "
            "music or trims. Click the Upload button to start, or drag a file in.",
        ),
        "zh": (
            "我可以把歌曲做成带波形可视化的视频、从视频中提取 MP3 音频、根据描述生成视频，"
            "还能加标题、背景音乐或剪辑时长。点击「上传」按钮开始，或直接拖拽文件进来。",
        ),
    },
    "q_general": {
        "en": (
            "Good question! Open the Tracks panel to see your current timeline and preview in "
            "timeline before you click the Export button. Tell me what you'd like to change.",
        ),
        "zh": (
            "好问题！打开「轨道」面板可以查看当前时间线，导出前请先在时间线中预览。"
            "告诉我你想修改什么。",
        ),
    },
    "needs_audio": {
        "en": (
            "I need an audio file for that. Click the Upload button or drag your MP3, WAV or "
            "AAC file in, then ask me again.",
        ),
        "zh": (
            "这需要一个音频文件。请点击「上传」按钮或拖拽 MP3、WAV、AAC 文件进来，然后再告诉我。",
        ),
    },
    "needs_video": {
        "en": (
            "I need a video to extract the audio from. Click the Upload button or drag your "
            "MP4, MOV, AVI or WebM file into the workspace first.",
        ),
        "zh": (
            "需要先有一个视频才能提取音频。"
            "请点击「上传」按钮，或将 MP4、MOV、AVI、WebM 文件拖拽到工作区。",
        ),
    },
    "empty_draft": {
        "en": (
            "Your timeline is empty, so there's nothing to edit yet. Click the Upload button "
            "to add a file, or ask me to generate a video.",
        ),
        "zh": (
            "时间线还是空的，暂时没有可编辑的内容。请点击「上传」按钮添加文件，或让我生成一个视频。",
        ),
    },
    "unknown": {
        "en": (
            "Sorry, I can't help with that. I'm a video editing assistant: click the Upload "
            'button to add media, or try something like "convert this audio track into a '
            'shareable video with a waveform visualizer".',
        ),
        "zh": (
            "抱歉，这个我帮不上忙。我是视频编辑助手：点击「上传」按钮添加素材，"
            "或者试试「把音频转成带波形的视频」。",
        ),
    },
    "trailing": {
        "en": (
            "I encountered a temporary issue while processing your request. Please try "
            "again later.",
        ),
        "zh": ("处理请求时遇到了临时问题，请稍后再试。",),
    },
}

_PHRASES: dict[str, dict[str, str]] = {
    "generated_cover": {"en": "a generated cover", "zh": "自动生成的封面"},
    "default_subject": {"en": "your idea", "zh": "你的创意"},
    "default_bgm": {"en": "Background music", "zh": "背景音乐"},
    "placed": {"en": "put {name} on the timeline", "zh": "将 {name} 放到时间线上"},
    "added_title": {"en": 'added the title "{text}"', "zh": "添加了标题「{text}」"},
    "added_text": {"en": 'added the text "{text}"', "zh": "添加了文字「{text}」"},
    "changed_text": {"en": 'changed the text to "{text}"', "zh": "将文字改为「{text}」"},
    "added_bgm": {"en": "added {name} background music at {pct}%",
                  "zh": "添加了背景音乐 {name}（音量 {pct}%）"},
    "volume": {"en": "set the background music to {pct}%", "zh": "将背景音乐音量调到 {pct}%"},
    "trimmed": {"en": "trimmed the video to {length}", "zh": "将视频剪到 {length}"},
}  # fmt: skip


def _lang(lang: str) -> str:
    return "zh" if lang == "zh" else "en"


def say(key: str, lang: str, rng: random.Random, /, **values: object) -> str:
    """One of the wordings of ``key``, chosen by ``rng``, with ``values`` filled in."""
    options = _TEMPLATES[key][_lang(lang)]
    return rng.choice(options).format(**values)


def phrase(key: str, lang: str, /, **values: object) -> str:
    return _PHRASES[key][_lang(lang)].format(**values)


def join(items: list[str], lang: str) -> str:
    if lang == "zh":
        return "，".join(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
