"""Driving a client: in-process for Python clients, as a subprocess for any language.

A manifest (``client.yaml``) names the client and gives, for each job, its command line with
placeholders::

    name: reference
    python: clients_under_test.reference.embed:run   # optional: drive it in-process
    command: [nemo-client]                           # the subprocess form
    time: mock                                       # mock | env | faketime | none
    jobs:
      convert: ["convert", "{input}", "--out", "{output}"]
      extract: ["extract", "{input}", "--out", "{output}"]
      chat: ["chat", "{text}"]
      upload: ["upload", "{input}"]
      credits: ["credits"]
      status: ["status"]
      export: ["export", "--format", "{format}", "--out", "{output}"]

A subprocess gets ``NEMO_API_URL``, ``NEMO_WEB_URL`` and a private ``HOME``. Its time is made to
run at the mock's speed without changing it: ``faketime`` (libfaketime) when the manifest says
so and it is installed, else the opt-in ``NEMO_TIME_SCALE`` variable (``time: env``). With
``time: mock`` the client also gets ``NEMO_MOCK_SLEEP_URL`` and takes each of its sleeps there
(``POST {"seconds": S}``, answered when the mock's clock has moved S seconds on; with the header
``X-Mock-Admin-Token: $NEMO_MOCK_ADMIN_TOKEN`` when that is set, for a shared mock started with
an admin token, whose control API answers nobody without it): the mock lists
them, so the suite knows where each wait lies in virtual time and judges the client's timing
exactly, as it does in-process, instead of within the noise of its measured overhead.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol

import httpx
import yaml

from mock_backend.control.admin import SLEEP_PATH
from mock_backend.state.clock import Clock as MockClock
from mock_backend.web.transport import SyncASGITransport

from .errors import ManifestError
from .evidence import SUITE_LINE
from .skipping import Skipper
from .timing import Sleep

__all__ = [
    "Adapter",
    "InProcessAdapter",
    "Limits",
    "Manifest",
    "ManifestError",
    "RunResult",
    "SubprocessAdapter",
]

TimeMode = Literal["env", "faketime", "mock", "none"]


@dataclass(frozen=True)
class Manifest:
    name: str
    jobs: dict[str, list[str]]
    command: list[str] = field(default_factory=list)
    python: str | None = None
    time: TimeMode = "env"
    env: dict[str, str] = field(default_factory=dict)
    path: Path | None = None

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ManifestError(f"{path}: cannot read the manifest ({exc})") from None
        return cls.from_dict(raw, path)

    @classmethod
    def from_dict(cls, raw: Any, path: Path | None = None) -> Manifest:
        where = str(path or "manifest")
        if not isinstance(raw, dict):
            raise ManifestError(f"{where}: expected a mapping with name, jobs and command")
        jobs = raw.get("jobs")
        if not isinstance(jobs, dict) or not jobs:
            raise ManifestError(f"{where}: 'jobs' maps job names to argument lists")
        for job, argv in jobs.items():
            if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
                raise ManifestError(f"{where}: jobs.{job} must be a list of strings")
        command = raw.get("command") or []
        if isinstance(command, str):
            command = [command]
        if not command and not raw.get("python"):
            raise ManifestError(
                f"{where}: give 'command' (any language) or 'python' (module:function)"
            )
        time_mode = raw.get("time", "env")
        if time_mode not in ("env", "faketime", "mock", "none"):
            raise ManifestError(f"{where}: time is env, mock, faketime or none")
        base = path.parent if path else Path.cwd()
        command = [str((base / c).resolve()) if c.startswith(("./", "../")) else c for c in command]
        return cls(
            name=str(raw.get("name") or (path.stem if path else "client")),
            jobs={k: list(v) for k, v in jobs.items()},
            command=command,
            python=raw.get("python"),
            time=time_mode,
            env={str(k): str(v) for k, v in (raw.get("env") or {}).items()},
            path=path,
        )

    def argv(self, job: str, values: Mapping[str, str]) -> list[str] | None:
        """The job's arguments with placeholders filled, or None when the client lacks the job."""
        template = self.jobs.get(job)
        if template is None:
            return None
        return [part.format(**values) for part in template]


@dataclass
class RunResult:
    exit_code: int
    stdout: str
    stderr: str
    wall: float
    killed: str | None = None  # why the suite stopped the client, when it had to
    killed_virtual: float | None = None  # the step's virtual seconds, when killed on them
    # wall-clock intervals (time.time) the client slept, and its clock readings (wall,
    # virtual), when the suite gave it its clock
    sleeps: list[tuple[float, float]] | None = None
    reads: list[tuple[float, float]] | None = None
    deliveries: list[tuple[float, float]] | None = None


@dataclass(frozen=True)
class Limits:
    """How long one step of a client may run, the same for every adapter: ``virtual`` seconds
    of the mock's clock (the longest job the documents allow, with room: a 15-minute stream,
    ten polls 30 s apart, a retry) and ``wall`` seconds (a client stuck outside the clock)."""

    virtual: float = 3600.0
    wall: float = 300.0

    def at_scale(self, scale: float) -> Limits:
        """The limits of a step on a clock ``scale`` times real time: the wall limit never ends
        a step before the virtual one could (at real time, a legitimate 15-minute stream takes
        15 wall minutes; a run re-tried at a low scale must not be killed as "hung" for it)."""
        return replace(self, wall=max(self.wall, 1.5 * self.virtual / max(scale, 1.0)))

    def over_virtual(self, virtual: float) -> bool:
        return virtual > self.virtual

    def exceeded(self, virtual: float, wall: float) -> str | None:
        if virtual > self.virtual:
            return f"killed after {virtual:.0f} s of virtual time (limit {self.virtual:.0f} s)"
        if wall > self.wall:
            return f"killed after {wall:.0f} s of wall time (limit {self.wall:.0f} s)"
        return None


DEFAULT_LIMITS = Limits()


class Adapter(Protocol):
    manifest: Manifest

    def run(
        self,
        argv: list[str],
        *,
        env: dict[str, str],
        target: Any,
        scale: float,
        limits: Limits = DEFAULT_LIMITS,
    ) -> RunResult: ...


class StepKilled(BaseException):
    """Raised into an in-process client past its step's limits (a BaseException, so that a
    client's ``except Exception`` cannot swallow it)."""


class _Watch:
    """The limits of one in-process step, checked at each sleep and request of the client."""

    def __init__(self, clock: MockClock, limits: Limits) -> None:
        self._clock = clock
        self._limits = limits
        self._virtual = clock.now()
        self._wall = time.monotonic()
        self.killed: str | None = None
        self.killed_virtual: float | None = None

    def check(self) -> None:
        virtual = self._clock.now() - self._virtual
        why = self._limits.exceeded(virtual, time.monotonic() - self._wall)
        if why is not None:
            self.killed = why
            self.killed_virtual = virtual if self._limits.over_virtual(virtual) else None
            raise StepKilled(why)


class _MockTime:
    """The client's clock in-process: the mock's virtual time; sleeps scaled to wall time and
    recorded, so the suite knows which wall time was the client waiting and which working."""

    def __init__(
        self, clock: MockClock, scale: float, watch: _Watch, skipper: Skipper | None = None
    ) -> None:
        self._clock = clock
        self._scale = scale
        self._watch = watch
        self._skipper = skipper
        self.sleeps: list[tuple[float, float]] = []
        self.reads: list[tuple[float, float]] = []  # (wall, virtual) of each clock reading
        # (wall, virtual) as each chunk of a response body reached the client: how late the
        # mock's bytes arrived, which a client reading the time as a line comes cannot help
        self.deliveries: list[tuple[float, float]] = []

    def stamp(self) -> tuple[float, float]:
        """(wall, virtual) now, without counting as the client's reading."""
        return self._clock.stamp()

    def now(self) -> float:
        wall, now = self._clock.stamp()  # one instant, on the journal's time base
        self.reads.append((wall, now))
        return now

    def sleep(self, seconds: float) -> None:
        self._watch.check()
        if seconds > 0:
            started, now = self._clock.stamp()
            ran = seconds  # virtual seconds of the wait that passed at the clock's rate
            if self._skipper is None:
                time.sleep(seconds / self._scale)
            else:  # the parts of the wait where only the clock could act take no wall time
                ran -= self._skipper.sleep_until(now + seconds)
            # what it asked for, not what it got: a sleep overshot on a busy machine is noise
            # (a late poll), not the client's intent; the timing verdicts read where it lies in
            # virtual time, which no skip and no busy moment can shift (see contract.timing)
            end = started + max(0.0, ran) / self._scale
            self.sleeps.append(Sleep(started, end, since=now, asked=seconds))
        self._watch.check()


class _WatchedTransport(httpx.BaseTransport):
    """Refuses the client's requests past its step's limits."""

    def __init__(
        self,
        inner: httpx.BaseTransport,
        watch: _Watch,
        clock: _MockTime,
        skipper: Skipper | None = None,
    ) -> None:
        self._inner = inner
        self._watch = watch
        self._clock = clock
        self._skipper = skipper

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self._watch.check()
        with _waiting(self._skipper):
            response = self._inner.handle_request(request)
        response.stream = _WatchedStream(response.stream, self._watch, self._clock, self._skipper)
        return response


def _waiting(skipper: Skipper | None) -> contextlib.AbstractContextManager[None]:
    return skipper.waiting() if skipper is not None else contextlib.nullcontext()


class _WatchedStream(httpx.SyncByteStream):
    """A response body checked against the step's limits at every chunk: a client holding a
    stream past them is stopped there, not only at its next request or sleep."""

    def __init__(
        self, inner: Any, watch: _Watch, clock: _MockTime, skipper: Skipper | None = None
    ) -> None:
        self._inner = inner
        self._watch = watch
        self._clock = clock
        self._skipper = skipper

    def __iter__(self) -> Iterator[bytes]:
        chunks = iter(self._inner)
        while True:
            with _waiting(self._skipper):
                chunk = next(chunks, None)
            if chunk is None:
                return
            self._watch.check()
            self._clock.deliveries.append(self._clock.stamp())
            yield chunk

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


EntryPoint = Callable[..., int]


class InProcessAdapter:
    """Calls ``module:function(argv, *, env, http, clock, stdout, stderr) -> int``.

    ``skip``: move the mock's clock straight to its next deadline whenever the client and the
    mock both only wait on it (see `contract.skipping`). On by default: the verdicts cannot
    tell a skipped wait from a waited one, as an in-process client's gaps are judged in virtual
    time (`contract.timing`). ``skip=False`` waits every virtual second out at the clock's
    rate."""

    def __init__(self, manifest: Manifest, *, skip: bool = True) -> None:
        self.skip = skip
        if not manifest.python:
            raise ManifestError(f"{manifest.name}: no 'python' entry point for in-process runs")
        module, _, name = manifest.python.partition(":")
        try:
            self.entry: EntryPoint = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            raise ManifestError(f"{manifest.name}: cannot load {manifest.python} ({exc})") from None
        self.manifest = manifest

    def run(
        self,
        argv: list[str],
        *,
        env: dict[str, str],
        target: Any,
        scale: float,
        limits: Limits = DEFAULT_LIMITS,
    ) -> RunResult:
        out, err = io.StringIO(), io.StringIO()
        started = time.monotonic()
        watch = _Watch(target.clock, limits)
        transport_ = SyncASGITransport(target.app, raise_app_exceptions=False)
        skipper = Skipper(target.clock) if self.skip else None
        clock = _MockTime(target.clock, scale, watch, skipper)
        with (
            transport_ as transport,
            httpx.Client(
                transport=_WatchedTransport(transport, watch, clock, skipper),
                timeout=httpx.Timeout(limits.wall),
            ) as http,
            _skipping(skipper, transport),
        ):
            try:
                code = self.entry(argv, env=env, http=http, clock=clock, stdout=out, stderr=err)
            except StepKilled:
                code = 124
                err.write(f"\n{SUITE_LINE} {watch.killed}")
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except Exception as exc:  # the client crashed: that is evidence, not a suite error
                import traceback

                err.write("Traceback (most recent call last):\n" + traceback.format_exc())
                code = 1
                del exc
        if watch.killed and code != 124:  # the client caught StepKilled's effects and went on
            err.write(f"\n{SUITE_LINE} {watch.killed}")
        return RunResult(
            int(code),
            out.getvalue(),
            err.getvalue(),
            time.monotonic() - started,
            killed=watch.killed,
            killed_virtual=watch.killed_virtual,
            sleeps=clock.sleeps,
            reads=clock.reads,
            deliveries=clock.deliveries,
        )


@contextlib.contextmanager
def _skipping(skipper: Skipper | None, transport: SyncASGITransport) -> Iterator[None]:
    if skipper is None:
        yield
        return
    skipper.start(transport._call)  # the transport's event loop is the mock's, for this step
    try:
        yield
    finally:
        skipper.stop()


class SubprocessAdapter:
    """Runs ``command + job argv`` in a child process against a live mock."""

    def __init__(self, manifest: Manifest) -> None:
        if not manifest.command:
            raise ManifestError(f"{manifest.name}: no 'command' to run as a subprocess")
        self.manifest = manifest
        program = _resolve(manifest.command[0])
        if shutil.which(program) is None and not Path(program).exists():
            raise ManifestError(
                f"{manifest.name}: command {manifest.command[0]!r} not found on PATH (nor beside "
                f"{sys.executable}); give a path, or install the client"
            )
        self.command = [program, *manifest.command[1:]]
        self.faketime = shutil.which("faketime") if manifest.time == "faketime" else None
        if manifest.time == "faketime" and not self.faketime:
            raise ManifestError(
                f"{manifest.name}: time: faketime needs libfaketime (apt-get install faketime); "
                "or use time: env if the client reads NEMO_TIME_SCALE"
            )

    def run(
        self,
        argv: list[str],
        *,
        env: dict[str, str],
        target: Any,
        scale: float,
        limits: Limits = DEFAULT_LIMITS,
    ) -> RunResult:
        command = [*self.command, *argv]
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("NEMO_")}
        child_env.update(self.manifest.env)
        child_env.update(env)
        if self.manifest.time in ("env", "mock"):
            child_env["NEMO_TIME_SCALE"] = f"{scale:g}"
        if self.manifest.time == "mock":  # its sleeps on the mock's clock: known exactly
            child_env["NEMO_MOCK_SLEEP_URL"] = target.base_url + SLEEP_PATH
            if target.admin_token:  # a mock whose control API asks for it, as X-Mock-Admin-Token
                child_env["NEMO_MOCK_ADMIN_TOKEN"] = target.admin_token
        elif self.faketime:
            command = [self.faketime, "-f", f"+0 x{scale:g}", *command]
        child_env.setdefault("PYTHONUNBUFFERED", "1")
        started = time.monotonic()
        started_wall = target.clock.wall()
        try:
            # a session of its own: on a timeout the whole process group goes, not only the
            # client (a shell script's curl would outlive it)
            child = subprocess.Popen(
                command,
                env=child_env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                cwd=env.get("HOME"),
                text=True,
                start_new_session=True,
            )
        except FileNotFoundError:
            return RunResult(127, "", f"{SUITE_LINE} command not found: {command[0]}", 0.0)
        virtual_start = target.clock.now()
        killed = None
        killed_virtual: float | None = None
        while True:
            try:
                out, err = child.communicate(timeout=0.05)
                break
            except subprocess.TimeoutExpired:
                virtual = target.clock.now() - virtual_start
                killed = limits.exceeded(virtual, time.monotonic() - started)
                killed_virtual = virtual if limits.over_virtual(virtual) else None
                if killed is None:
                    continue
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                out, err = child.communicate()
                err += f"\n{SUITE_LINE} {killed}"
                break
        code = 124 if killed else child.returncode
        sleeps = target.client_sleeps(started_wall) if self.manifest.time == "mock" else None
        return RunResult(
            code,
            out,
            err,
            time.monotonic() - started,
            killed=killed,
            killed_virtual=killed_virtual,
            sleeps=list(sleeps) if sleeps is not None else None,
        )


def _resolve(program: str) -> str:
    """A program on PATH, else beside this Python (a virtualenv's scripts need no activation)."""
    return (
        shutil.which(program)
        or shutil.which(program, path=str(Path(sys.executable).parent))
        or program
    )


def adapter_for(manifest: Manifest, mode: str = "auto") -> InProcessAdapter | SubprocessAdapter:
    """``auto``: in-process when the manifest names a Python entry point, else a subprocess."""
    if mode == "inprocess" or (mode == "auto" and manifest.python):
        return InProcessAdapter(manifest)
    return SubprocessAdapter(manifest)
