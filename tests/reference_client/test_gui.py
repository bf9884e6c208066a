"""GUI translation: sentences pointing at buttons and panels become what to say instead."""

from __future__ import annotations

import pytest

from clients_under_test.reference.gui import translate

EXPORT = 'Say "export" and I\'ll render it.'
STATE = 'Say "status" to see a summary of the timeline.'


@pytest.mark.parametrize(
    ("backend_says", "user_sees"),
    [
        ("click the Export button", EXPORT),
        (
            "Your video is ready! Click the Export button to download it.",
            f"Your video is ready! {EXPORT}",
        ),
        ("Use the export button when you're done.", EXPORT),
        ("Open the Layers panel to check the tracks.", STATE),
        ("You can preview it in the timeline.", STATE),
        (
            "Drag the title to the 2s mark.",
            'Tell me the change in words (for example "move the title to 2s") and I\'ll make it.',
        ),
        ("Check your account billing page.", 'Say "credits" to see your balance.'),
        ("Click Save to keep it.", "Just tell me what you want and I'll do it."),
        ("视频已生成。点击导出按钮下载。", "视频已生成。说“导出”，我就为你渲染导出。"),
        ("请打开时间线面板查看。", "说“状态”即可查看时间线摘要。"),
        ("把标题拖拽到 2 秒处。", "直接用文字告诉我要怎么改，我来帮你调整。"),
        ("请点击保存。", "直接告诉我你想做什么，我来完成。"),
        ("Line one.\nclick the Export button\nLine three.", f"Line one.\n{EXPORT}\nLine three."),
        ("I added a title and exported nothing yet.", "I added a title and exported nothing yet."),
        ("已完成！标题已添加。", "已完成！标题已添加。"),
    ],
)
def test_translate(backend_says: str, user_sees: str) -> None:
    assert translate(backend_says) == user_sees
