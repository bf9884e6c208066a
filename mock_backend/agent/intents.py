"""Reading a chat message: which intent it carries and the parameters it names.

The emulated agent understands English and Chinese, the two languages of the skill documents.
Classification is keyword and pattern based, deterministic and forgiving; the order of the checks
is the decision (conversions before generation before edits before questions), so that "make a
video from my song" is a conversion and "can you add a title?" an edit, not a question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

__all__ = [
    "AddBgm",
    "AddText",
    "ChangeText",
    "EditOp",
    "Intent",
    "IntentName",
    "Language",
    "Trim",
    "classify",
    "detect_language",
    "parse_duration",
]

Language = Literal["en", "zh"]
IntentName = Literal[
    "audio_to_video", "extract_audio", "generate", "edit", "question", "clarify", "unknown"
]
Position = Literal["top", "center", "bottom"]


@dataclass(frozen=True)
class AddText:
    text: str | None  # None: the agent picks one
    role: Literal["title", "text"] = "title"
    position: Position = "center"


@dataclass(frozen=True)
class ChangeText:
    text: str
    role: Literal["title", "text"] = "title"


@dataclass(frozen=True)
class AddBgm:
    style: str | None  # "Lo-fi", "Jazz"…; None: unnamed
    volume: float | None  # 0..1; None: keep or default
    use_upload: bool = False  # the user's own uploaded music


@dataclass(frozen=True)
class Trim:
    seconds: float


EditOp = AddText | ChangeText | AddBgm | Trim


@dataclass(frozen=True)
class Intent:
    name: IntentName
    language: Language
    portrait: bool = False
    ops: tuple[EditOp, ...] = ()
    seconds: float | None = None  # requested length (generation)
    subject: str | None = None  # what to generate
    topic: str | None = None  # question topic, or what a clarification asks about


_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def detect_language(message: str) -> Language:
    return "zh" if _CJK.search(message) else "en"


def _any(patterns: tuple[str, ...], text: str) -> bool:
    return any(re.search(p, text) for p in patterns)


# --- numbers, durations, volumes, quoted text ------------------------------------------------

_ZH_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7}
_ZH_DIGITS |= {"八": 8, "九": 9}


def _zh_number(text: str) -> float | None:
    """一 … 九十九 (enough for clip lengths)."""
    if not text or any(ch not in _ZH_DIGITS and ch != "十" for ch in text):
        return None
    if "十" not in text:
        return float(_ZH_DIGITS[text]) if len(text) == 1 else None
    tens, _, ones = text.partition("十")
    value = (_ZH_DIGITS.get(tens, 0) if tens else 1) * 10
    return float(value + (_ZH_DIGITS.get(ones, 0) if ones else 0))


_EN_DURATION = re.compile(
    r"(\d{1,5}(?:\.\d{1,3})?)\s*-?\s*(seconds?|secs?|s|minutes?|mins?)\b", re.IGNORECASE
)
_ZH_DURATION = re.compile(r"(\d{1,5}(?:\.\d{1,3})?|[零一二两三四五六七八九十]{1,4})\s*(秒|分钟|分)")


def parse_duration(message: str) -> float | None:
    """The first length named in the message, in seconds."""
    zh = _ZH_DURATION.search(message)
    if zh:
        raw = zh.group(1)
        value = float(raw) if raw[0].isdigit() else _zh_number(raw)
        if value is not None:
            return value * (60 if zh.group(2) != "秒" else 1)
    en = _EN_DURATION.search(message)
    if en:
        return float(en.group(1)) * (60 if en.group(2).lower().startswith("m") else 1)
    return None


def _parse_volume(message: str) -> float | None:
    match = re.search(r"(\d{1,3}(?:\.\d{1,3})?)\s*[%％]", message) or re.search(
        r"百分之\s*(\d{1,3})", message
    )
    if match:
        return min(float(match.group(1)), 100.0) / 100
    match = re.search(r"(?:volume|音量)\D{0,12}?(0?\.\d{1,3}|1\.0)\b", message, re.IGNORECASE)
    return float(match.group(1)) if match else None


_QUOTED = (
    r"\"([^\"]+)\"",
    r"“([^”]+)”",
    r"「([^」]+)」",
    r"『([^』]+)』",
    r"‘([^’]+)’",
    r"(?:(?<=\s)|^)'([^']+)'(?=\W|$)",
)


def _quoted(message: str) -> str | None:
    for pattern in _QUOTED:
        match = re.search(pattern, message)
        if match and match.group(1).strip():
            return match.group(1).strip()
    return None


def _after(message: str, pattern: str) -> str | None:
    """The words after ``pattern``, up to the end of the clause."""
    match = re.search(pattern + r"\s*[:：]?\s*(.+)", message, re.IGNORECASE)
    if not match:
        return None
    rest = re.split(r"[,.;!?，。；！？]| and |\s+at\s+\d|\s+with\s", match.group(1))[0]
    rest = re.sub(r"^(saying|that says|reading|as|to|为|是|成)\s*", "", rest.strip(), flags=re.I)
    return rest.strip() or None


# --- intent patterns -------------------------------------------------------------------------

_PORTRAIT = (r"\bportrait\b", r"\bvertical\b", r"9\s*[:：/x]\s*16", r"竖屏", r"竖版", r"竖向")

_A2V_STRONG = (
    r"wave\s?form",
    r"visuali[sz]",
    r"album art",
    r"音频转视频",
    r"波形",
    r"可视化",
    r"专辑封面",
)
_A2V_WEAK = (
    r"\b(audio|song|music|track|mp3|sound|tune)s?\b.{0,60}?\b(into|to) an? (\w+ )?video",
    r"\bvideo (from|for|out of|of) (my|this|the|our) (audio|song|music|track|mp3|tune)",
    r"\bconvert (my|this|the) (audio|song|music|mp3|sound)",
    r"(音频|歌|音乐|mp3).{0,30}?(转成|转为|转换成|转换为|做成|变成|生成)\S{0,3}视频",
)
_EXTRACT = (
    r"\bextract\b",
    r"\baudio only\b",
    r"\bonly (the )?(audio|sound)\b",
    r"\b(to|as|into) (an? )?mp3\b",
    r"\bmp3 (file )?(from|out of)\b",
    r"\brip\b.{0,40}?\b(audio|sound)\b",
    r"\bconvert (my|this|the) video",
    r"提取",
    r"(转成|转为|转换成|转换为|转|变成|导成)\s*mp3",
    r"只要(音频|声音)",
    r"纯音频",
)
_GENERATE = (
    r"\bgenerate\b",
    r"\b(create|make|produce) (me )?an? .{0,40}?video (of|about|showing|with)\b",
    r"生成",
)
_TITLE = (r"\b(add|put|insert|place)\b.{0,60}?\btitle\b", r"(加|添加|加个|加上|放)\S{0,2}标题")
_TEXT = (
    r"\b(add|put|insert|overlay)\b.{0,60}?\b(text|caption|subtitle)\b",
    r"(加|添加|加上)\S{0,2}(文字|字幕)",
)
_CHANGE_TEXT = (
    r"\b(change|rename|replace|update|edit|set)\b.{0,60}?\b(title|text|caption)\b",
    r"(标题|文字|字幕)\S{0,2}(改成|改为|换成|修改为)",
    r"(修改|更改|更换)\S{0,2}(标题|文字|字幕)",
)
_BGM = (
    r"\bbgm\b",
    r"\bbackground music\b",
    r"\b(add|put|use|set)\b.{0,60}?\b(music|soundtrack|song)\b",
    r"背景音乐",
    r"配乐",
)
_TRIM = (
    r"\btrim\b",
    r"\bshorten\b",
    r"\bcut\b.{0,30}?\b(to|down)\b",
    r"\bclip it\b",
    r"(剪到|剪成|裁剪|截到|截成|缩短|剪短)",
)
_USE_UPLOAD = (r"\b(my|uploaded|this) (song|music|track|audio|mp3)\b", r"我的(歌|音乐)", r"上传的")
_BGM_STYLES = (
    (r"lo-?\s?fi|低保真", "Lo-fi"),
    (r"jazz|爵士", "Jazz"),
    (r"piano|钢琴", "Piano"),
    (r"upbeat|happy|energetic|欢快|轻快|动感", "Upbeat"),
    (r"epic|cinematic|史诗|电影感", "Cinematic"),
    (r"chill|ambient|calm|relax|舒缓|放松|轻音乐", "Chill"),
    (r"acoustic|guitar|吉他|民谣", "Acoustic"),
    (r"electronic|edm|电子", "Electronic"),
    (r"rock|摇滚", "Rock"),
)
_REQUEST = (r"^(can|could|would|will) you\b", r"^please\b", r"^(帮我|请|麻烦)", r"\bfor me\b")
_QUESTION_START = (
    r"^(what|how|why|which|when|where|who|is|are|does|do|should|can i|may i|help)\b",
)
_ZH_QUESTION = (
    r"吗[?？]?$",
    r"什么",
    r"怎么",
    r"如何",
    r"为什么",
    r"哪",
    r"多少",
    r"是否",
    r"能做",
)
_TOPICS = (
    ("greeting", (r"^(hi|hello|hey)\b", r"^(你好|您好|嗨)")),
    ("export", (r"export|download|render|save|导出|下载|保存",)),
    ("credits", (r"credit|balance|price|cost|pay|billing|积分|余额|价格|费用|收费",)),
    ("tracks", (r"track|timeline|draft|layer|轨道|时间线|草稿",)),
    ("formats", (r"format|file type|support|格式|支持",)),
    ("capabilities", (r"what can you|what do you do|help|能做什么|可以做什么|功能",)),
)


def _topic(text: str) -> str:
    for name, patterns in _TOPICS:
        if _any(patterns, text):
            return name
    return "general"


def _edit_ops(text: str, message: str) -> tuple[EditOp, ...]:
    ops: list[EditOp] = []
    if _any(_CHANGE_TEXT, text):
        new = _quoted(message) or _after(message, r"(?:\bto\b|改成|改为|换成|修改为)")
        if new:
            role: Literal["title", "text"] = "title" if re.search(r"title|标题", text) else "text"
            ops.append(ChangeText(new, role))
    elif _any(_TITLE, text) or _any(_TEXT, text):
        is_title = _any(_TITLE, text)
        words = _quoted(message) or _after(message, r"(?:\btitle\b|\btext\b|\bcaption\b|标题|文字)")
        position: Position = "center" if is_title else "bottom"
        if re.search(r"\btop\b|顶部|上方", text):
            position = "top"
        elif re.search(r"\bbottom\b|底部|下方", text):
            position = "bottom"
        ops.append(AddText(words, "title" if is_title else "text", position))
    if _any(_BGM, text):
        style = next((name for pattern, name in _BGM_STYLES if re.search(pattern, text)), None)
        ops.append(AddBgm(style, _parse_volume(message), _any(_USE_UPLOAD, text)))
    if _any(_TRIM, text):
        seconds = parse_duration(message)
        if seconds is not None:
            ops.append(Trim(seconds))
    return tuple(ops)


def _subject(message: str, language: Language) -> str | None:
    if language == "zh":
        rest = re.split(r"生成", message, maxsplit=1)[-1]
        rest = _ZH_DURATION.sub("", rest)
        rest = re.sub(r"^(一个|一段|个|段|的)+|(的)?视频.*$|[，。！,.!]", "", rest.strip())
        rest = re.sub(r"^(的)+", "", rest)
        return rest.strip() or None
    match = re.search(r"\bvideo (?:of|about|showing) (?:an? |the )?(.+)", message, re.IGNORECASE)
    if not match:
        return None
    return re.split(r"[,.;!?]| with | and | for | in \d", match.group(1))[0].strip() or None


# Only the start of a message is read: prompts are short, and a bound keeps every pattern cheap
# on the event loop whatever a client sends (the request allows 8000 characters).
MAX_READ = 2000


def classify(message: str) -> Intent:
    """The intent of ``message``, with every parameter the agent needs."""
    message = message[:MAX_READ]
    language = detect_language(message)
    text = message.strip().lower()
    portrait = _any(_PORTRAIT, text)

    base = Intent("unknown", language, portrait)

    if _any(_A2V_STRONG, text):
        return replace(base, name="audio_to_video")
    if _any(_EXTRACT, text):
        return replace(base, name="extract_audio")
    if _any(_A2V_WEAK, text):
        return replace(base, name="audio_to_video")
    if _any(_GENERATE, text):
        seconds = parse_duration(message)
        subject = _subject(message, language)
        ops = _edit_ops(text, message)
        title = _quoted(message)
        if (
            title
            and re.search(r"title|标题", text)
            and not any(isinstance(o, AddText) for o in ops)
        ):
            ops += (AddText(title),)
        return replace(base, name="generate", seconds=seconds, subject=subject, ops=ops)
    ops = _edit_ops(text, message)
    if ops:
        return replace(base, name="edit", ops=ops)
    if _any(_TRIM, text):
        return replace(base, name="clarify", topic="trim")
    if _any(_TITLE + _CHANGE_TEXT, text):
        return replace(base, name="clarify", topic="title")
    question = text.endswith(("?", "？")) or _any(_QUESTION_START + _ZH_QUESTION, text)
    if _any(_TOPICS[0][1], text) or (question and not _any(_REQUEST, text)):
        return replace(base, name="question", topic=_topic(text))
    return base
