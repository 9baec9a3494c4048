"""Pages and JSON API over a registry with known records; one real batch through the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from w2t_bkin.runtime.registry import TaskRecord
from w2t_bkin.web.app import DashboardSettings

from ._helpers import make_workspace, record


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = make_workspace(tmp_path / "exp", {"m1": ["s1", "s2"], "m2": ["s1"]})
    folder = root / "data/processed/m1/s1"
    (folder / "qc").mkdir(parents=True)
    (folder / "qc/report.html").write_text("<h1>QC</h1>")
    (folder / "alignment_stats.json").write_text(
        json.dumps(
            {
                "streams": [
                    {
                        "stream_id": "cam0",
                        "kind": "camera",
                        "status": "exact",
                        "n_items": 600,
                        "n_pulses": 598,
                        "n_matched": 598,
                        "dropped_idx": [10, 20],
                        "missing_idx": [5, 6, 7],
                        "spurious_idx": [],
                        "drift_ppm": 15.25,
                        "residual_rms_ms": 0.0123,
                    }
                ]
            }
        )
    )
    (folder / "validation.json").write_text(
        json.dumps(
            {
                "counts": {"CRITICAL": 0, "BEST_PRACTICE_SUGGESTION": 1},
                "findings": [
                    {
                        "check_name": "check_x",
                        "importance": "BEST_PRACTICE_SUGGESTION",
                        "object_name": "trials",
                        "object_type": "TrialsTable",
                        "message": "Column 'outcome' could be boolean",
                    }
                ],
            }
        )
    )
    return root


def test_overview_json_and_page(root: Path, client_for: Any) -> None:
    run_id = record(
        root,
        [
            TaskRecord("m1/s1", "done", warnings=("few trials matched",)),
            TaskRecord("m1/s2", "failed", error="s2: cam0_frame.txt line 21: not a number"),
        ],
        status="failed",
    )
    client = client_for(DashboardSettings(root, freshness_sweeps=False))
    data = client.get("/api/overview").json()
    assert data["counts"] == {"done": 1, "failed": 1, "never run": 1}
    by_key = {f"{s['subject']}/{s['session']}": s for s in data["sessions"]}
    assert by_key["m1/s1"]["n_warnings"] == 1 and by_key["m1/s1"]["has_qc"] is True
    assert by_key["m1/s2"]["reasons"] == ["s2: cam0_frame.txt line 21: not a number"]
    assert by_key["m1/s2"]["run_id"] == run_id
    page = client.get("/")
    assert page.status_code == 200 and page.headers["server-timing"].startswith("app;dur=")
    assert "cam0_frame.txt line 21" in page.text
    assert 'href="/files/data/processed/m1/s1/qc/report.html"' in page.text
    assert f'href="/runs/{run_id}"' in page.text


def test_session_page_shows_sidecars_and_history(root: Path, client_for: Any) -> None:
    run_id = record(root, [TaskRecord("m1/s1", "failed", error="boom")], status="failed")
    client = client_for(DashboardSettings(root, freshness_sweeps=False))
    detail = client.get("/api/sessions/m1/s1").json()
    assert (detail["state"], detail["reasons"]) == ("failed", ["boom"])
    assert detail["qc_report"] == "data/processed/m1/s1/qc/report.html"
    assert detail["sidecars"]["alignment_stats"]["streams"][0]["n_matched"] == 598
    assert [h["run_id"] for h in detail["history"]] == [run_id]
    page = client.get("/sessions/m1/s1").text
    for text in ("15.25 ppm", "0.0123 ms", "Column &#39;outcome&#39; could be boolean", "boom"):
        assert text in page, text
    never = client.get("/api/sessions/m2/s1").json()
    assert (never["state"], never["history"], never["qc_report"]) == ("never run", [], None)


def test_unknown_session_and_run_are_404_with_a_fix(root: Path, client_for: Any) -> None:
    client = client_for(DashboardSettings(root, freshness_sweeps=False))
    response = client.get("/api/sessions/m9/s1")
    assert response.status_code == 404
    assert response.json()["error"] == f"no session m9/s1 in {root}"
    response = client.get("/api/runs/abc123")
    assert response.status_code == 404
    assert response.json()["hint"] == "list the recorded runs with: w2t-bkin runs list ROOT"
    page = client.get("/runs/abc123", headers={"accept": "text/html"})
    assert page.status_code == 404 and "no run with id" in page.text and "<html" in page.text
    bad_id = client.get("/api/sessions/m1/..%2Fx")
    assert bad_id.status_code in (400, 404)


def test_runs_list_and_detail(root: Path, client_for: Any) -> None:
    run_id = record(
        root,
        [TaskRecord("m1/s1", "done", phase_durations_s={"ingestion": 1.25, "assembly": 2.5})],
    )
    client = client_for(DashboardSettings(root, freshness_sweeps=False))
    runs = client.get("/api/runs").json()
    assert [(r["run_id"], r["status"], r["task_counts"]) for r in runs] == [
        (run_id, "succeeded", {"done": 1})
    ]
    run = client.get(f"/api/runs/{run_id[:8]}").json()
    assert run["tasks"][0]["duration_s"] == 3.75
    assert run["config"] == {"execution": {"jobs": 1}}
    page = client.get(f"/runs/{run_id}").text
    assert "ingestion 1.25 s" in page and "assembly 2.50 s" in page


def test_openapi_lists_the_api(root: Path, client_for: Any) -> None:
    client = client_for(DashboardSettings(root, freshness_sweeps=False))
    paths = set(client.get("/api/openapi.json").json()["paths"])
    assert {
        "/api/info",
        "/api/overview",
        "/api/sessions/{subject}/{session}",
        "/api/runs",
        "/api/runs/{run_id}",
        "/api/batches",
        "/api/batches/{batch_id}",
        "/api/batches/{batch_id}/cancel",
        "/api/jobs",
        "/api/features",
    } <= paths
    assert not any(p.startswith("/files") for p in paths)


def test_empty_panels_explain_what_to_do(root: Path, client_for: Any) -> None:
    client = client_for(DashboardSettings(root, freshness_sweeps=False))
    jobs = client.get("/api/jobs").json()
    assert jobs["folders"] == [] and "w2t-bkin jobs watch DIR" in jobs["message"]
    features = client.get("/api/features").json()
    assert features["tables"] == [] and "w2t-bkin features run" in features["message"]
    assert "No runs recorded yet" in client.get("/runs").text
