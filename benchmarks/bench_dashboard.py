"""Dashboard benchmark: the overview of a 1,000-session workspace.

The workspace has 20 subjects x 50 sessions (``session.toml`` only: discovery needs no more)
and a run registry holding one recorded run per session (done, failed, busy, cached in turn,
with warnings and errors), plus a freshness verdict for every up-to-date session. Measured:

* ``GET /`` (the HTML overview) and ``GET /api/overview``: the server time the app reports in
  its ``Server-Timing`` header, median of 9 requests after one warm-up; goal <= 300 ms for the
  page. A request goes through the app in-process (FastAPI's TestClient): no network.
* Peer: the same latest-state table built the obvious way, one ``Registry.latest_task`` query
  per session (what ``w2t-bkin status`` does before its fingerprint checks), timed in-process.
"""

from __future__ import annotations

import shutil
import statistics
import time
from pathlib import Path
from typing import Any

WORK = Path(__file__).resolve().parent / ".work"
GOAL_MS = 300.0


def _workspace(n_subjects: int, n_sessions: int) -> Path:
    from w2t_bkin.runtime.registry import Registry, TaskRecord, registry_path
    from w2t_bkin.workspace.create import ExperimentInfo, init_workspace

    root = WORK / f"dashboard-{n_subjects}x{n_sessions}"
    if root.exists():
        shutil.rmtree(root)
    init_workspace(root, ExperimentInfo("Lab", "Inst", ("Doe, Jane",), "P-1", "bench"))
    registry = Registry(registry_path(root))
    run_id = registry.start_run(["w2t-bkin", "run", str(root)], {})
    statuses = ("done", "failed", "busy", "cached")
    for s in range(n_subjects):
        for n in range(n_sessions):
            subject, session = f"mouse{s + 1:03d}", f"ses{n + 1:03d}"
            folder = root / "data" / "raw" / subject / session
            folder.mkdir(parents=True)
            (folder / "session.toml").write_text(f'session_id = "{session}"\n')
            status = statuses[(s * n_sessions + n) % len(statuses)]
            registry.record_task(
                run_id,
                TaskRecord(
                    f"{subject}/{session}",
                    status,
                    warnings=("few trials matched",) if n % 7 == 0 else (),
                    error="TTL file line 3: not a number\n  hint: fix it"
                    if status != "done"
                    else None,
                    phase_durations_s={"ingestion": 1.0, "assembly": 2.0},
                ),
            )
    registry.finish_run(run_id, "failed")
    return root


def _server_ms(client: Any, url: str, repeats: int = 9) -> float:
    client.get(url)  # warm-up: templates compiled, registry pages cached by the OS
    times = []
    for _ in range(repeats):
        response = client.get(url)
        response.raise_for_status()
        times.append(float(response.headers["server-timing"].partition("dur=")[2]))
    return statistics.median(times)


def _peer_ms(root: Path, repeats: int = 3) -> float:
    from w2t_bkin.runtime.registry import Registry, registry_path
    from w2t_bkin.workspace.discovery import discover_sessions
    from w2t_bkin.workspace.layout import open_workspace

    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        registry = Registry(registry_path(root))
        refs = discover_sessions(open_workspace(root))
        rows = [registry.latest_task(f"{r.subject}/{r.session}") for r in refs]
        assert len(rows) == len(refs)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def run(scale: str = "full") -> list[dict[str, Any]]:
    from fastapi.testclient import TestClient

    from w2t_bkin.web.app import DashboardSettings, create_app
    from w2t_bkin.web.state import latest_tasks

    n_subjects, n_sessions = 20, 50  # 1,000 sessions at both scales: the goal is about 1,000
    root = _workspace(n_subjects, n_sessions)
    app = create_app(DashboardSettings(root, freshness_sweeps=False))
    dash = app.state.dashboard
    for key, task in latest_tasks(root).items():  # every up-to-date session has a verdict
        if task.status in ("done", "cached"):
            dash.freshness._verdicts[key] = (task.row_id, "cached", ())
    with TestClient(app, base_url="http://127.0.0.1") as client:
        page_ms = _server_ms(client, "/")
        api_ms = _server_ms(client, "/api/overview")
        n_rows = len(client.get("/api/overview").json()["sessions"])
    assert n_rows == n_subjects * n_sessions
    peer_ms = _peer_ms(root)
    note = f"{n_rows} sessions; goal <= {GOAL_MS:.0f} ms server time"
    return [
        {
            "name": "dashboard overview page (1,000 sessions)",
            "value": page_ms,
            "unit": "ms",
            "peer": "one registry query per session",
            "peer_value": peer_ms,
            "ratio": peer_ms / page_ms,
            "note": note + (" (met)" if page_ms <= GOAL_MS else " (NOT met)"),
        },
        {
            "name": "dashboard /api/overview (1,000 sessions)",
            "value": api_ms,
            "unit": "ms",
            "peer": "one registry query per session",
            "peer_value": peer_ms,
            "ratio": peer_ms / api_ms,
            "note": note,
        },
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
