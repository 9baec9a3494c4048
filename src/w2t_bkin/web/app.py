"""The dashboard application: HTML pages and the JSON API (``/api``, OpenAPI at
``/api/openapi.json``) over one workspace.

Only ``w2t-bkin server start`` (and tests) import this module: FastAPI, Starlette and Jinja2
load here, never on ``w2t-bkin --help``. Pages are rendered on the server from the same
functions the API returns as JSON; a little JavaScript (``static/app.js``) posts the batch form
and polls the live batch.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from w2t_bkin import __version__
from w2t_bkin.errors import RegistryError, W2TError
from w2t_bkin.web.batches import PHASES, BatchManager, BatchRequest, LiveBatch
from w2t_bkin.web.errors import BatchBusyError, PathRefusedError, ReadOnlyError
from w2t_bkin.web.files import resolve_in_workspace, session_files
from w2t_bkin.web.panels import feature_runs, jobs_folders, pose_jobs
from w2t_bkin.web.security import TOKEN_COOKIE, AccessPolicy, check_request, new_token
from w2t_bkin.web.state import FreshnessCache, first_line, overview, session_freshness, task_history

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
#: Seconds between two background freshness sweeps.
FRESHNESS_INTERVAL_S = 60.0


@dataclass
class DashboardSettings:
    """How one dashboard serves its workspace."""

    root: Path
    read_only: bool = False
    access_token: str | None = None
    loopback_only: bool = True
    csrf_token: str = field(default_factory=new_token)
    jobs_dirs: list[Path] = field(default_factory=list)
    #: sweep freshness in a background thread (off in tests that want a quiet server)
    freshness_sweeps: bool = True


class Dashboard:
    """The state one app holds: batches, freshness verdicts, templates."""

    def __init__(self, settings: DashboardSettings) -> None:
        self.settings = settings
        self.root = Path(settings.root)
        self.freshness = FreshnessCache(self.root)
        self.batches = BatchManager(self.root, on_finished=self._after_batch)
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._sweeper: threading.Thread | None = None

    def start_sweeps(self) -> None:
        if self.settings.freshness_sweeps and self._sweeper is None:
            self._sweeper = threading.Thread(target=self._sweep, name="w2t-freshness", daemon=True)
            self._sweeper.start()

    def stop(self, timeout_s: float = 45.0) -> None:
        """Stop sweeping; cancel a running batch and wait for it to record its end."""
        self._stop.set()
        self._wake.set()
        current = self.batches.current()
        if current is not None:
            self.batches.cancel(current["batch_id"])
            self.batches.join(timeout_s)

    def _sweep(self) -> None:
        while not self._stop.is_set():
            try:
                self.freshness.refresh(stop=self._stop)
            except Exception:  # a sweep that fails is retried; the pages show "checking"
                log.exception("freshness sweep")
            self._wake.wait(FRESHNESS_INTERVAL_S)
            self._wake.clear()

    def _after_batch(self, batch: LiveBatch) -> None:
        self._wake.set()  # re-check what the batch produced

    def render(self, request: Request, template: str, **context: Any) -> HTMLResponse:
        page = self.templates.get_template(template).render(
            version=__version__,
            root=str(self.root),
            read_only=self.settings.read_only,
            csrf_token=self.settings.csrf_token,
            path=request.url.path,
            **context,
        )
        return HTMLResponse(page)


def create_app(settings: DashboardSettings) -> FastAPI:
    """The FastAPI application of one workspace (see :class:`DashboardSettings`)."""
    from w2t_bkin.workspace.layout import open_workspace

    workspace = open_workspace(settings.root)  # a folder that is no workspace fails here
    dash = Dashboard(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        dash.start_sweeps()
        try:
            yield
        finally:
            dash.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="w2t-bkin dashboard",
        version=__version__,
        description="Sessions, runs, QC and live batches of one w2t-bkin workspace.",
        openapi_url="/api/openapi.json",
        docs_url=None,  # the Swagger page loads its code from a CDN: not for an offline lab
        redoc_url=None,
    )
    app.state.dashboard = dash
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    policy = AccessPolicy(settings.csrf_token, settings.access_token, settings.loopback_only)

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        refusal = check_request(
            policy,
            request.method,
            {k.lower(): v for k, v in request.headers.items()},
            dict(request.cookies),
            request.query_params.get("token"),
        )
        if refusal is not None:
            return _error_response(request, refusal.status, refusal.message, None)
        started = time.perf_counter()
        response: Response = await call_next(request)
        elapsed_ms = (time.perf_counter() - started) * 1000
        response.headers["Server-Timing"] = f"app;dur={elapsed_ms:.1f}"
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        token = request.query_params.get("token")
        if settings.access_token is not None and token:
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        return response

    @app.exception_handler(W2TError)
    async def w2t_error(request: Request, exc: W2TError) -> Response:
        return _error_response(request, _status_of(exc), exc.message, exc.hint)

    # ---------------------------------------------------------------- JSON API

    @app.get("/api/info", tags=["workspace"])
    def api_info() -> dict[str, Any]:
        """Server and workspace facts, and the CSRF token POST requests must send."""
        return {
            "w2t_bkin_version": __version__,
            "root": str(dash.root),
            "read_only": settings.read_only,
            "csrf_token": settings.csrf_token,
            "csrf_header": "X-CSRF-Token",
        }

    @app.get("/api/overview", tags=["workspace"])
    def api_overview() -> dict[str, Any]:
        """Every session's latest state: done, cached, stale, failed, never run, running..."""
        view = overview(dash.root, dash.freshness, dash.batches.running_sessions())
        return {"counts": dict(view.counts), "sessions": [r.to_dict() for r in view.rows]}

    @app.get("/api/sessions/{subject}/{session}", tags=["workspace"])
    def api_session(subject: str, session: str) -> dict[str, Any]:
        """One session: live freshness, run history, sidecars (status, alignment, validation,
        provenance) and links to its QC report and log."""
        return _session_detail(dash, subject, session)

    @app.get("/api/runs", tags=["runs"])
    def api_runs(limit: int = 50) -> list[dict[str, Any]]:
        """The latest runs, newest first."""
        from w2t_bkin.runtime.registry import Registry, registry_path

        runs = Registry(registry_path(dash.root)).list_runs(max(1, min(limit, 1000)))
        return [_run_summary(run) for run in runs]

    @app.get("/api/runs/{run_id}", tags=["runs"])
    def api_run(run_id: str) -> dict[str, Any]:
        """One run (id or unique prefix): parameters, sessions, phase timings, errors."""
        return _run_detail(dash.root, run_id)

    @app.get("/api/batches", tags=["batches"])
    def api_batches() -> list[dict[str, Any]]:
        """Batches this server started, newest first, with live per-session progress."""
        return dash.batches.list_batches()

    @app.get("/api/batches/{batch_id}", tags=["batches"])
    def api_batch(batch_id: str) -> dict[str, Any]:
        """One batch's live state (poll it while ``final`` is false)."""
        batch = dash.batches.get(batch_id)
        if batch is None:
            raise RegistryError(f"no batch {batch_id!r} in this server", hint="GET /api/batches")
        return batch

    @app.post("/api/batches", tags=["batches"], status_code=202)
    def api_start_batch(request: BatchRequest) -> dict[str, Any]:
        """Start a batch (``run_batch``) in the background; needs the CSRF header."""
        _require_writable(settings)
        batch_id = dash.batches.start(request, dashboard_invocation(dash.root, request))
        return {"batch_id": batch_id, "url": f"/api/batches/{batch_id}"}

    @app.post("/api/batches/{batch_id}/cancel", tags=["batches"], status_code=202)
    def api_cancel_batch(batch_id: str) -> dict[str, Any]:
        """Ask a running batch to stop at its sessions' next phase."""
        _require_writable(settings)
        if not dash.batches.cancel(batch_id):
            raise RegistryError(
                f"no running batch {batch_id!r} in this server", hint="GET /api/batches"
            )
        return {"batch_id": batch_id, "cancel_requested": True}

    @app.get("/api/jobs", tags=["pose jobs"])
    def api_jobs() -> dict[str, Any]:
        """The pose job daemon's jobs (progress, stale flags), or why there are none."""
        return pose_jobs(dash.root, jobs_folders(dash.root, settings.jobs_dirs)).to_dict()

    @app.get("/api/features", tags=["features"])
    def api_features() -> dict[str, Any]:
        """The feature pipeline's recorded runs and lineage, or why there are none."""
        return feature_runs(dash.root).to_dict()

    # ---------------------------------------------------------------- files

    @app.get("/files/{relative:path}", include_in_schema=False)
    def files(relative: str) -> FileResponse:
        path = resolve_in_workspace(dash.root, relative)
        media = "text/plain; charset=utf-8" if path.suffix in (".log", ".txt", ".toml") else None
        return FileResponse(path, media_type=media)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)  # pages it serves (QC reports) may have no icon link

    # ---------------------------------------------------------------- pages

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page_overview(request: Request) -> HTMLResponse:
        view = overview(dash.root, dash.freshness, dash.batches.running_sessions())
        return dash.render(
            request,
            "overview.html",
            title="Sessions",
            view=view,
            workspace=workspace,
            batch=dash.batches.current(),
        )

    @app.get("/sessions/{subject}/{session}", response_class=HTMLResponse, include_in_schema=False)
    def page_session(request: Request, subject: str, session: str) -> HTMLResponse:
        detail = _session_detail(dash, subject, session)
        return dash.render(request, "session.html", title=detail["key"], s=detail)

    @app.get("/runs", response_class=HTMLResponse, include_in_schema=False)
    def page_runs(request: Request) -> HTMLResponse:
        return dash.render(request, "runs.html", title="Runs", runs=api_runs(100))

    @app.get("/runs/{run_id}", response_class=HTMLResponse, include_in_schema=False)
    def page_run(request: Request, run_id: str) -> HTMLResponse:
        run = _run_detail(dash.root, run_id)
        return dash.render(request, "run.html", title=f"Run {run['run_id'][:8]}", run=run)

    @app.get("/batches", response_class=HTMLResponse, include_in_schema=False)
    def page_batches(request: Request) -> HTMLResponse:
        return dash.render(
            request, "batches.html", title="Run sessions", batches=dash.batches.list_batches()
        )

    @app.get("/jobs", response_class=HTMLResponse, include_in_schema=False)
    def page_jobs(request: Request) -> HTMLResponse:
        return dash.render(request, "jobs.html", title="Pose jobs", panel=api_jobs())

    @app.get("/features", response_class=HTMLResponse, include_in_schema=False)
    def page_features(request: Request) -> HTMLResponse:
        return dash.render(request, "features.html", title="Features", panel=api_features())

    app.state.error_page = dash.templates.get_template("error.html")
    return app


# -------------------------------------------------------------------- helpers


def _require_writable(settings: DashboardSettings) -> None:
    if settings.read_only:
        raise ReadOnlyError(
            "this dashboard was started with --read-only: actions are disabled",
            hint="restart it without --read-only to start or cancel runs",
        )


def dashboard_invocation(root: Path, request: BatchRequest) -> list[str]:
    """What provenance records for a batch started from the dashboard: the equivalent ``run``
    command, under a program name that says where it came from."""
    command = ["w2t-bkin-dashboard", "run", str(root)]
    command += ["--subject", request.subject, "--session", request.session]
    for option, value in (
        ("--jobs", request.jobs),
        ("--executor", request.executor),
        ("--retries", request.retries),
        ("--config", request.config or None),
        ("--overrides", "; ".join(request.overrides.split("\n")).strip("; ") or None),
    ):
        if value is not None:
            command += [option, str(value)]
    return [*command, "--force"] if request.force else command


def _status_of(exc: W2TError) -> int:
    if isinstance(exc, ReadOnlyError):
        return 403
    if isinstance(exc, PathRefusedError | RegistryError):
        return 404
    if isinstance(exc, BatchBusyError):
        return 409
    return 400


def _error_response(request: Request, status: int, message: str, hint: str | None) -> Response:
    wants_html = request.method == "GET" and not request.url.path.startswith("/api/")
    if wants_html and "text/html" in request.headers.get("accept", ""):
        template = getattr(request.app.state, "error_page", None)
        if template is not None:
            page = template.render(
                title=f"Error {status}",
                status=status,
                message=message,
                hint=hint or "",
                version=__version__,
                root="",
                read_only=True,
                csrf_token="",
                path=request.url.path,
            )
            return HTMLResponse(page, status_code=status)
    return JSONResponse({"error": message, "hint": hint}, status_code=status)


def _session_detail(dash: Dashboard, subject: str, session: str) -> dict[str, Any]:
    from w2t_bkin.runtime.registry import Registry, registry_path
    from w2t_bkin.workspace.layout import Workspace, check_id

    check_id(subject, "subject")
    check_id(session, "session")
    workspace = Workspace(dash.root)
    if not (workspace.session_dir(subject, session) / "session.toml").is_file():
        raise PathRefusedError(
            f"no session {subject}/{session} in {dash.root}",
            hint="the overview lists every session of the workspace",
        )
    key = f"{subject}/{session}"
    latest = Registry(registry_path(dash.root)).latest_task(key)
    running = dash.batches.running_sessions()
    reasons: tuple[str, ...]
    if key in running:
        state, reasons = "running", (running[key],)
    elif latest is None:
        state, reasons = "never run", ()
    elif latest.succeeded:
        fresh, reasons = session_freshness(dash.root, subject, session, latest)
        state = latest.status if fresh == "cached" else "stale"
    else:
        state, reasons = latest.status, (first_line(latest.error),) if latest.error else ()
    view = session_files(workspace, subject, session)
    status = view.sidecars.get("status")
    if isinstance(status, dict) and isinstance(status.get("phase_durations_s"), dict):
        status["phase_durations_s"] = in_phase_order(status["phase_durations_s"])
    return {
        "key": key,
        "subject": subject,
        "session": session,
        "state": state,
        "reasons": list(reasons),
        "latest": None
        if latest is None
        else {
            "run_id": latest.run_id,
            "status": latest.status,
            "finished_at": latest.finished_at,
            "phase_durations_s": in_phase_order(latest.phase_durations_s),
            "warnings": list(latest.warnings),
            "error": latest.error,
        },
        "history": task_history(dash.root, key),
        "qc_report": view.qc_report,
        "pipeline_log": view.pipeline_log,
        "nwb": view.nwb,
        "sidecars": view.sidecars,
        "problems": list(view.problems),
    }


def in_phase_order(durations: Mapping[str, float]) -> dict[str, float]:
    """Phase durations in the order the driver runs the phases (unknown phases last)."""
    rank = {phase: i for i, phase in enumerate(PHASES)}
    return dict(sorted(durations.items(), key=lambda item: rank.get(item[0], len(rank))))


def _run_summary(run: Any) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "status": run.status,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "command": list(run.command),
        "host": run.host,
        "user": run.user,
        "task_counts": dict(run.task_counts),
    }


def _run_detail(root: Path, run_id: str) -> dict[str, Any]:
    from w2t_bkin.runtime.registry import Registry, registry_path

    run = Registry(registry_path(root)).get_run(run_id)
    tasks = []
    for task in run.tasks:
        total = sum(task.phase_durations_s.values())
        tasks.append(
            {
                "session": task.task_key,
                "status": task.status,
                "attempts": task.attempts,
                "started_at": task.started_at,
                "finished_at": task.finished_at,
                "duration_s": total,
                "phase_durations_s": in_phase_order(task.phase_durations_s),
                "warnings": list(task.warnings),
                "error": task.error,
            }
        )
    return {
        **_run_summary(run),
        "pid": run.pid,
        "w2t_bkin_version": run.version,
        "config": dict(run.config),
        "tasks": tasks,
    }
