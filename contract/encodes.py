"""One encode per distinct render job in a catalogue run, shared by the scenarios' mocks.

The scenarios render the same few jobs (the clip converted, its audio extracted, from the same
generated inputs, with the same seeded drafts): nine encodes of three jobs in one run, each
seconds of CPU, and on two cores they were most of the matrix's wall time once idle waits were
skipped. A job's file depends on its draft, its inputs' bytes, its format and quality alone, so
the first encode of a job is kept and every later one is a copy of that file to the job's own
path. A scenario that asks while the first is still encoding waits for it; if that one fails or
is stopped, it encodes for itself. Encodes are real work that virtual time already waits for
(the mock holds its clock while a poll or a download waits for the file), so the verdicts never
see whether a file was encoded or copied: only the wall time does.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from mock_backend.rendering.render_jobs import RenderJob, RenderResult

__all__ = ["EncodeCache"]

Engine = Callable[[RenderJob, Callable[[float], None]], RenderResult]
POLL = 0.05  # wall seconds between a waiting job's cancellation checks


@dataclass
class _Encode:
    done: threading.Event
    kept: RenderResult | None = None  # the file kept for copies, once written


class EncodeCache:
    """Encodes kept in ``folder`` for the length of a run (see the module docstring)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.encoded = 0  # jobs really encoded
        self.copied = 0  # jobs answered with a copy
        self._lock = threading.Lock()
        self._encodes: dict[str, _Encode] = {}

    def around(self, engine: Engine) -> Engine:
        """``engine``, encoding each distinct job once for every mock given it."""
        return lambda job, progress: self._render(engine, job, progress)

    def _render(
        self, engine: Engine, job: RenderJob, progress: Callable[[float], None]
    ) -> RenderResult:
        key = _key(job)
        with self._lock:
            encode = self._encodes.get(key)
            first = encode is None
            if encode is None:
                encode = self._encodes[key] = _Encode(threading.Event())
        if not first:
            while not encode.done.wait(POLL):
                progress(0.0)  # a cancel or a reset of this job stops the wait
            if encode.kept is not None:
                return self._copy(encode.kept, job)
            return engine(job, progress)  # the first failed or was stopped: encode it here
        try:
            result = engine(job, progress)
            self.folder.mkdir(parents=True, exist_ok=True)
            kept = self.folder / f"{key}{result.path.suffix}"
            shutil.copyfile(result.path, kept)
        except BaseException:
            with self._lock:
                del self._encodes[key]
            encode.done.set()
            raise
        encode.kept = replace(result, path=kept)
        encode.done.set()
        self.encoded += 1
        return result

    def _copy(self, kept: RenderResult, job: RenderJob) -> RenderResult:
        job.out_path.parent.mkdir(parents=True, exist_ok=True)
        partial = job.out_path.with_name(f".{job.out_path.name}.copy.part")
        shutil.copyfile(kept.path, partial)
        os.replace(partial, job.out_path)  # whole or absent, as an encode leaves it
        self.copied += 1
        return replace(kept, path=job.out_path)


def _key(job: RenderJob) -> str:
    """What the file depends on: the draft, the inputs' bytes, the format and the quality."""
    media = {src: hashlib.sha256(path.read_bytes()).hexdigest() for src, path in job.media.items()}
    text = json.dumps(
        [job.draft, media, job.output_format, job.quality], sort_keys=True, default=str
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]
