"""`NemoClient`: the operations of the skill documents on one session, over an injected
``httpx.Client`` and `Clock`, talking to the user through an injected `Console`."""

from __future__ import annotations

import io
import mimetypes
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import quote

import httpx

from .api import Api
from .attribution import MUSIC_SKILL, Attribution, Skill, load_skill, resolve_skill_path
from .auth import Credentials
from .chat import ChatOutcome, ChatRun
from .clock import Clock
from .config import ConfigStore, Settings
from .console import Console, human_size
from .errors import ExportError, NemoClientError
from .export import Exporter
from .files import check_upload, rules_for
from .models import Balance, ProjectState, SessionInfo, TokenGrant, UploadedFile
from .session import SessionRef, load_session, save_session
from .timeline import has_exportable_content

__all__ = ["NemoClient"]


class NemoClient:
    """The reference client. ``http`` is the transport seam, ``clock`` the time seam.

    The session is loaded from the config folder when one was saved for this API URL, and
    created (then saved) on first need.

    The parts are class attributes so that a variant of the client is a subclass that swaps one
    of them (the compatibility suite's deliberately broken clients, in
    ``clients_under_test/mutants``, are built this way); the reference uses its own modules.
    """

    credentials_class: type[Credentials] = Credentials
    attribution_class: type[Attribution] = Attribution
    api_class: type[Api] = Api
    exporter_class: type[Exporter] = Exporter
    chat_run_class: type[ChatRun] = ChatRun

    def __init__(
        self,
        http: httpx.Client,
        clock: Clock,
        *,
        settings: Settings,
        console: Console | None = None,
        skill: Skill | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.console = console if console is not None else Console()
        self.skill = skill if skill is not None else load_skill(resolve_skill_path(MUSIC_SKILL))
        self.upload_rules = rules_for(self.skill.name)
        self.store = ConfigStore(settings.config_dir)
        self.credentials = self.credentials_class(
            settings, self.store, clock, self.console, fetch=self._fetch_token
        )
        attribution = self.attribution_class.for_skill(
            self.skill, home=settings.home, override=settings.platform
        )
        self.api = self.api_class(
            http, settings, clock, self.console, attribution, self.credentials, self.upload_rules
        )
        self.api.on_session_lost = self._replace_session
        self.exporter = self.exporter_class(self.api, self.console, clock)
        self._session = load_session(self.store, settings.api_url)

    # -- session ---------------------------------------------------------------------------

    @property
    def has_session(self) -> bool:
        return self._session is not None

    def session(self) -> SessionRef:
        """The current session, created on first need."""
        if self._session is None:
            return self.new_session()
        return self._session

    def new_session(self) -> SessionRef:
        """Start a new project (``POST /api/tasks/me/with-session/nemo_agent``) and save it."""
        self.console.say("Connecting...")
        body = self.api.call(
            lambda: self.api.request(
                "POST",
                "/api/tasks/me/with-session/nemo_agent",
                json={"task_name": "project", "language": "en"},
            )
        )
        info = SessionInfo.parse(body.get("data"))
        self._session = SessionRef(info.session_id, info.task_id)
        save_session(self.store, self.settings.api_url, self._session)
        self.console.say("Ready!")
        return self._session

    def _replace_session(self) -> None:
        self.console.warn("The session was not found (it may have expired); starting a new one.")
        self._session = None
        self.new_session()

    def _fetch_token(self, client_id: str) -> TokenGrant:
        body = self.api.call(
            lambda: self.api.request(
                "POST",
                "/api/auth/anonymous-token",
                headers={"X-Client-Id": self.credentials.client_id()},
                authenticated=False,
            ),
            authenticated=False,
        )
        return TokenGrant.parse(body.get("data"))

    # -- operations ------------------------------------------------------------------------

    def credits(self) -> Balance:
        body = self.api.call(lambda: self.api.request("GET", "/api/credits/balance/simple"))
        return Balance.parse(body.get("data"))

    def state(self) -> ProjectState:
        body = self.api.call(
            lambda: self.api.request(
                "GET",
                f"/api/state/nemo_agent/me/{quote(self.session().session_id, safe='')}/latest",
            ),
            session_bound=True,
        )
        return ProjectState.parse(body.get("data"))

    def upload(self, paths: Sequence[Path]) -> list[UploadedFile]:
        """Check every file first (format, size), then upload them one by one."""
        sizes = [check_upload(path, self.upload_rules) for path in paths]
        uploaded: list[UploadedFile] = []
        for path, size in zip(paths, sizes, strict=True):
            uploaded.extend(self._upload_one(path, size))
            self.console.say(f"✅ Uploaded {path.name}")
        return uploaded

    def chat(self, text: str) -> ChatOutcome:
        self.session()
        run = self.chat_run_class(
            self.api,
            self.console,
            self.clock,
            session_id=lambda: self.session().session_id,
            fetch_state=self.state,
        )
        return run.send(text)

    def export(self, fmt: str = "mp4", dest: Path | None = None) -> Path:
        """Render the current draft, download it, and show the claim link."""
        if self._session is None:
            raise ExportError(_NOTHING_TO_EXPORT)
        state = self.state()
        if not has_exportable_content(state.draft):
            raise ExportError(_NOTHING_TO_EXPORT)
        render_id, url = self.exporter.render(self.session().session_id, state.draft, fmt)
        target = dest if dest is not None else Path.cwd() / f"nemovideo-{render_id}.{fmt}"
        path = self.exporter.download(render_id, url, target)
        self.console.say(f"✅ Saved {path}")
        link = self.claim_link()
        if link:
            self.console.say(f"Open your project in the browser: {link}")
        return path

    def claim_link(self) -> str | None:
        """``<web>/workspace/claim?ct=<claim_token>``, or None when the backend gives none."""
        session = self.session()
        try:
            body = self.api.call(
                lambda: self.api.request(
                    "POST",
                    "/api/auth/claim-token",
                    json={"task_id": session.task_id, "session_id": session.session_id},
                )
            )
        except NemoClientError as error:
            self.console.debug(f"no claim link: {type(error).__name__}")
            return None
        data = body.get("data")
        token = data.get("claim_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            return None
        return f"{self.settings.web_url}/workspace/claim?ct={token}"

    def _upload_one(self, path: Path, size: int) -> list[UploadedFile]:
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        with _ProgressFile(path, size, self._upload_progress(path.name)) as handle:
            body = self.api.call(
                lambda: self.api.request(
                    "POST",
                    f"/api/upload-video/nemo_agent/me/{quote(self.session().session_id, safe='')}",
                    files={"files": (path.name, handle, mime)},
                ),
                session_bound=True,
            )
        return UploadedFile.parse_many(body.get("data"))

    def _upload_progress(self, name: str) -> Callable[[int, int], None]:
        last = [-1]

        def report(sent: int, total: int) -> None:
            step = sent * 10 // total if total else 10
            if step != last[0]:
                last[0] = step
                percent = sent * 100 // total if total else 100
                self.console.progress(f"Uploading {name}… {percent}% of {human_size(total)}")

        return report


_NOTHING_TO_EXPORT = (
    "Nothing to export yet: the timeline is empty. Upload a file and describe what you want "
    "(nemo-client upload FILE, then nemo-client chat TEXT) first."
)


class _ProgressFile(io.BufferedReader):
    """A file opened for reading that reports how much of it was read (the upload progress).
    httpx seeks it back to 0 before each send, so a retried upload starts over."""

    def __init__(self, path: Path, size: int, report: Callable[[int, int], None]) -> None:
        super().__init__(io.FileIO(path, "rb"))
        self._size = size
        self._report = report

    def read(self, size: int | None = -1, /) -> bytes:
        chunk = super().read(size)
        self._report(self.tell(), self._size)
        return chunk
