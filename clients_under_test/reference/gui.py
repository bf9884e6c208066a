"""GUI translation: the backend's text assumes a web editor with buttons and panels; a
command-line user has none. Each sentence that points at the GUI is replaced by what to say to
this client instead (the documents' table: click → execute via API, open panel / preview in
timeline → state summary, drag/drop → describe the edit, Export button → export).

The rules are tried in order and the first that matches replaces the whole sentence, in the
sentence's language (Chinese hints for sentences with Chinese characters).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["RULES", "translate"]

EXPORT_HINT = ('Say "export" and I\'ll render it.', "说“导出”，我就为你渲染导出。")
STATE_HINT = ('Say "status" to see a summary of the timeline.', "说“状态”即可查看时间线摘要。")
EDIT_HINT = (
    'Tell me the change in words (for example "move the title to 2s") and I\'ll make it.',
    "直接用文字告诉我要怎么改，我来帮你调整。",
)
CREDITS_HINT = ('Say "credits" to see your balance.', "说“积分”即可查看余额。")
CLICK_HINT = ("Just tell me what you want and I'll do it.", "直接告诉我你想做什么，我来完成。")


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: re.Pattern[str]
    hint: tuple[str, str]  # (English, Chinese)


def _rule(name: str, pattern: str, hint: tuple[str, str]) -> Rule:
    return Rule(name, re.compile(pattern, re.IGNORECASE), hint)


RULES = (
    _rule(
        "export button",
        r"\bexport\s+button\b|\b(?:click|press|tap|hit)\s+(?:on\s+)?(?:the\s+)?[\"'“]?export\b"
        r"|\bdownload\s+button\b|(?:点击|点)\s*[「“\"]?导出|导出按钮",
        EXPORT_HINT,
    ),
    _rule(
        "open panel",
        r"\bopen\s+(?:the\s+|your\s+)?[\w\s\"'“”-]{0,40}?\b(?:panel|tab|sidebar|editor|timeline|"
        r"menu|inspector|library)\b|\bpreview\b.{0,30}\btimeline\b|打开|预览",
        STATE_HINT,
    ),
    _rule("drag and drop", r"\bdrag\b|\bdrop\s+(?:it|the|them)\b|拖拽|拖动", EDIT_HINT),
    _rule("account", r"\b(?:check|open|visit)\s+(?:your\s+)?(?:account|billing)\b", CREDITS_HINT),
    _rule("click", r"\b(?:click|tap)\b|\bpress\s+(?:the\s+)?\w+\s+button\b|点击", CLICK_HINT),
)

# A sentence ends at . ! ? (or their full-width forms) followed by space, or at a line break.
_SENTENCE = re.compile(r"[^.!?。！？\n]*(?:[.!?。！？]+|\n|$)")
_CJK = re.compile(r"[\u4e00-\u9fff]")


def translate(text: str) -> str:
    """Replace each sentence that points at the GUI by the matching hint."""
    out: list[str] = []
    for match in _SENTENCE.finditer(text):
        sentence = match.group(0)
        if not sentence:
            continue
        out.append(_translate_sentence(sentence))
    return "".join(out)


def _translate_sentence(sentence: str) -> str:
    for rule in RULES:
        if rule.pattern.search(sentence):
            english, chinese = rule.hint
            hint = chinese if _CJK.search(sentence) else english
            body = sentence.strip()
            start = sentence.index(body)
            return sentence[:start] + hint + sentence[start + len(body) :]
    return sentence
