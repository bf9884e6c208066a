"""The main job at clock scales a client can follow, 10,000x included, as a user runs it.

A render's lifecycle follows the mock's clock alone and virtual time stops while the real encode
it waits for runs: at 1000x under faketime (whose sped-up read timeouts give the client 0.12 s
per read) and at 10,000x with NEMO_TIME_SCALE, nemo-client still turns a song into a valid MP4.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import av
import pytest

from mock_backend.media.samples import make_song
from mock_backend.settings import Settings
from mock_backend.web.app import create_app
from mock_backend.web.server import LiveServer

CLIENT = Path(sys.executable).parent / "nemo-client"
FAKETIME = shutil.which("faketime")


@pytest.mark.parametrize(
    ("time", "scale"),
    [
        pytest.param(
            "faketime",
            1000,
            marks=pytest.mark.skipif(
                FAKETIME is None, reason="needs libfaketime (apt-get install faketime)"
            ),
        ),
        ("env", 10000),
    ],
)
def test_the_main_job_writes_a_valid_mp4_on_a_fast_clock(
    tmp_path: Path, time: str, scale: int
) -> None:
    song, video = tmp_path / "song.mp3", tmp_path / "song.mp4"
    make_song(song, 12.0)
    app = create_app(Settings(clock=f"scaled:{scale}", data_dir=tmp_path / "data"))
    server = LiveServer(app).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEMO_")}
    env.update({"NEMO_API_URL": server.url, "HOME": str(tmp_path)})
    command = [str(CLIENT), "convert", str(song), "--out", str(video)]
    if time == "faketime":
        assert FAKETIME is not None
        command = [FAKETIME, "-f", f"+0 x{scale}", *command]
    else:
        env["NEMO_TIME_SCALE"] = str(scale)
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=300, check=False
        )
    finally:
        server.stop()
        app.state.backend.close()
    assert done.returncode == 0, done.stdout + done.stderr
    with av.open(str(video)) as container:
        kinds = {s.type: s.codec_context.name for s in container.streams}
        assert kinds == {"video": "h264", "audio": "aac"}
        assert container.duration is not None
        assert abs(container.duration / 1e6 - 12.0) < 0.2
