"""The versioned request/response protocol between the client and a worker subprocess.

Request (written by the client, ``request.json``)::

    {"protocol": "w2t-bkin.pose-worker", "version": 1, "action": "analyze" | "probe",
     "backend": "deeplabcut" | "sleap", "model": "...", "video": "...", "output_dir": "...",
     "options": {...}}

Response (written by the worker, atomically, ``response.json``)::

    {"protocol": "w2t-bkin.pose-worker", "version": 1, "status": "ok" | "error",
     "backend_version": "3.0.0", "python": "3.10.14", "elapsed_s": 12.5,
     "outputs": [{"path": "...", "format": "dlc_h5" | "dlc_csv" | "slp" | "sleap_analysis_h5"}],
     "error": {"kind": "missing_package" | "bad_request" | "backend_failed",
               "package": "deeplabcut", "message": "...", "traceback": "..."} | null}

While it works, the worker prints JSON lines on stdout: ``{"event": "progress",
"frames_done": n, "frames_total": m | null}`` and ``{"event": "log", "message": "..."}``; any
other line is passed to the log as backend output. A worker that answers another protocol or
a newer version is refused (:class:`~w2t_bkin.pose.errors.WorkerProtocolError`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "PROTOCOL",
    "PROTOCOL_VERSION",
    "WorkerError",
    "WorkerOutput",
    "WorkerRequest",
    "WorkerResponse",
]

PROTOCOL: Literal["w2t-bkin.pose-worker"] = "w2t-bkin.pose-worker"
PROTOCOL_VERSION = 1

Backend = Literal["deeplabcut", "sleap"]
OutputFormat = Literal["dlc_h5", "dlc_csv", "slp", "sleap_analysis_h5"]


class WorkerRequest(BaseModel):
    """What the worker is asked to do."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    protocol: Literal["w2t-bkin.pose-worker"] = PROTOCOL
    version: int = PROTOCOL_VERSION
    action: Literal["analyze", "probe"]
    backend: Backend
    model: str | None = None
    video: str | None = None
    output_dir: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class WorkerOutput(BaseModel):
    """One native file the backend wrote."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    format: OutputFormat


class WorkerError(BaseModel):
    """Why a worker failed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["missing_package", "bad_request", "backend_failed"]
    message: str
    package: str | None = None
    traceback: str | None = None


class WorkerResponse(BaseModel):
    """What the worker answered. Unknown keys are ignored so that a worker of the same major
    version may add fields."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    protocol: Literal["w2t-bkin.pose-worker"]
    version: int
    status: Literal["ok", "error"]
    backend_version: str | None = None
    python: str | None = None
    elapsed_s: float = 0.0
    outputs: list[WorkerOutput] = Field(default_factory=list)
    error: WorkerError | None = None
