"""Batches from the dashboard: real ``run_batch`` runs in the background, watched and cancelled."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from w2t_bkin.runtime.registry import Registry, registry_path
from w2t_bkin.testing import ExperimentSpec, write_experiment
from w2t_bkin.web.app import DashboardSettings
from w2t_bkin.web.batches import PHASES, BatchManager, BatchRequest
from w2t_bkin.web.errors import BatchBusyError, PathRefusedError


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "exp"
    write_experiment(root, ExperimentSpec(n_sessions=2, duration_s=1.0, n_bpod_files=1))
    return root


def _wait_final(client: Any, batch_id: str, timeout_s: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    seen_phases: set[str] = set()
    while time.monotonic() < deadline:
        batch = client.get(f"/api/batches/{batch_id}").json()
        seen_phases |= {s["phase"] for s in batch["sessions"] if s["phase"]}
        if batch["final"]:
            batch["seen_phases"] = seen_phases
            return batch
        time.sleep(0.05)
    raise AssertionError(f"batch {batch_id} did not finish in {timeout_s} s")


@pytest.mark.slow  # one real session (~10-25 s on a shared machine)
def test_batch_from_the_api_runs_records_and_then_goes_stale(root: Path, client_for: Any) -> None:
    client = client_for(DashboardSettings(root, freshness_sweeps=False))
    csrf = client.get("/api/info").json()["csrf_token"]
    response = client.post(
        "/api/batches", json={"session": "ses01"}, headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 202
    batch = _wait_final(client, response.json()["batch_id"])
    assert (batch["state"], batch["n_sessions"], batch["n_finished"]) == ("succeeded", 1, 1)
    (session,) = batch["sessions"]
    assert (session["key"], session["state"], session["fraction"]) == (
        "mouse01/ses01",
        "succeeded",
        1.0,
    )
    assert session["plan"] == "run" and session["reasons"] == ["never run"]
    assert batch["seen_phases"] <= set(PHASES)  # whatever polling caught is a driver phase
    run = Registry(registry_path(root)).get_run(batch["run_id"])
    assert (run.status, [(t.task_key, t.status) for t in run.tasks]) == (
        "succeeded",
        [("mouse01/ses01", "done")],
    )
    provenance = json.loads((root / "data/processed/mouse01/ses01/provenance.json").read_text())
    assert provenance["command_line"] == [
        "w2t-bkin-dashboard", "run", str(root), "--subject", "*", "--session", "ses01"
    ]  # fmt: skip
    dash = client.app.state.dashboard
    assert dash.freshness.refresh() == 1
    rows = {r["session"]: r for r in client.get("/api/overview").json()["sessions"]}
    assert (rows["ses01"]["state"], rows["ses01"]["checked"]) == ("done", True)
    assert rows["ses02"]["state"] == "never run"
    ttl = root / "data/raw/mouse01/ses01/TTLs/cam0_frame.txt"
    ttl.write_text(ttl.read_text() + "\n")  # an input changed since the run
    dash.freshness.refresh()
    rows = {r["session"]: r for r in client.get("/api/overview").json()["sessions"]}
    assert rows["ses01"]["state"] == "stale"
    assert rows["ses01"]["reasons"] == ["input changed: TTLs/cam0_frame.txt"]
    detail = client.get("/api/sessions/mouse01/ses01").json()  # computed live
    assert (detail["state"], detail["reasons"]) == ("stale", ["input changed: TTLs/cam0_frame.txt"])


def test_cancel_records_the_run_as_cancelled_and_busy_is_refused(root: Path) -> None:
    manager = BatchManager(root)
    batch_id = manager.start(BatchRequest(), ["w2t-bkin", "test"])
    with pytest.raises(BatchBusyError, match=f"batch {batch_id} is still running"):
        manager.start(BatchRequest(), ["w2t-bkin", "test"])
    assert manager.cancel(batch_id) is True
    manager.join(120)
    batch = manager.get(batch_id)
    assert batch is not None
    assert batch["state"] == "cancelled" and batch["final"] is True
    assert {s["state"] for s in batch["sessions"]} == {"cancelled"}
    run = Registry(registry_path(root)).get_run(batch["run_id"])
    assert run.status == "cancelled"
    assert {t.status for t in run.tasks} == {"cancelled"}
    assert manager.cancel(batch_id) is False  # already over


def test_config_file_must_be_inside_the_workspace(root: Path, tmp_path: Path) -> None:
    manager = BatchManager(root)
    (tmp_path / "outside.toml").write_text("")
    for config in ("../outside.toml", str(tmp_path / "outside.toml"), "missing.toml"):
        with pytest.raises(PathRefusedError):
            manager.start(BatchRequest(config=config), [])
    assert manager.list_batches() == []


def test_request_validation_names_the_field(root: Path, client_for: Any) -> None:
    client = client_for(DashboardSettings(root, freshness_sweeps=False))
    csrf = client.get("/api/info").json()["csrf_token"]
    for body, field in (({"jobs": 0}, "jobs"), ({"subject": "a/b"}, "subject"), ({"x": 1}, "x")):
        response = client.post("/api/batches", json=body, headers={"X-CSRF-Token": csrf})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"][-1] == field


def test_config_overrides_are_validated_before_anything_runs(root: Path, client_for: Any) -> None:
    client = client_for(DashboardSettings(root, freshness_sweeps=False))
    csrf = {"X-CSRF-Token": client.get("/api/info").json()["csrf_token"]}
    bad_toml = client.post("/api/batches", json={"overrides": "[execution"}, headers=csrf)
    assert bad_toml.status_code == 400
    assert bad_toml.json()["error"].startswith("configuration overrides are not valid TOML")
    typo = "[execution]\ncontinue_on_eror = false\n"
    unknown = client.post("/api/batches", json={"overrides": typo}, headers=csrf)
    assert unknown.status_code == 400
    assert "continue_on_eror" in unknown.json()["error"]
    assert "continue_on_error" in unknown.json()["error"]  # the closest valid key
    assert client.get("/api/batches").json() == []
    assert not (root / ".w2t" / "web").exists()


def test_config_overrides_merge_over_the_workspace_configuration(root: Path) -> None:
    import tomllib

    manager = BatchManager(root)
    overrides = "[execution]\ncontinue_on_error = false\nretries = 2\n"
    batch_id = manager.start(BatchRequest(subject="nobody", overrides=overrides), [])
    manager.join(60)
    batch = manager.get(batch_id)
    assert batch is not None and batch["state"] == "error"  # no session matches "nobody"
    assert batch["message"].startswith("no session matches --subject 'nobody'")
    written = tomllib.loads((root / f".w2t/web/config-{batch_id}.toml").read_text())
    workspace = tomllib.loads((root / "configuration.toml").read_text())
    assert written["execution"] == {
        **workspace.get("execution", {}),
        "continue_on_error": False,
        "retries": 2,
    }
    assert {k: v for k, v in written.items() if k != "execution"} == {
        k: v for k, v in workspace.items() if k != "execution"
    }
