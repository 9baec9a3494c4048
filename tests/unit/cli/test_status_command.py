"""``w2t-bkin status`` and ``runs list|show``: states, reasons, timings and errors, exactly."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from w2t_bkin.cli import main
from w2t_bkin.runtime.registry import Registry, TaskRecord, registry_path
from w2t_bkin.testing import ExperimentSpec, write_experiment

from ..session.test_cache import record_session


def _squash(text: str) -> str:
    return "".join(text.split())


def _rows(out: str) -> list[dict[str, str]]:
    """Each row of a rich table: column name to its text, folded lines joined without spaces."""
    lines = [line for line in out.splitlines() if line.startswith(("┃", "│", "├"))]
    header = [cell.strip() for cell in lines[0].split("┃")[1:-1]]
    rows: list[dict[str, str]] = []
    fresh = True
    for line in lines[1:]:
        if line.startswith("├"):
            fresh = True
            continue
        cells = line.split("│")[1:-1]
        if fresh or cells[0].strip():
            rows.append(dict.fromkeys(header, ""))
            fresh = False
        for name, cell in zip(header, cells, strict=True):
            rows[-1][name] += _squash(cell)
    return rows


@pytest.fixture(scope="module")
def processed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("status") / "exp"
    write_experiment(root, ExperimentSpec(n_sessions=2))
    record_session(root, "mouse01", "ses01")
    return root


@pytest.fixture
def root(processed: Path, workspace_copy: Callable[[Path], Path]) -> Path:
    return workspace_copy(processed)


def _status_json(root: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    assert main(["status", str(root), "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_done_and_never_run(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _status_json(root, capsys)
    run_id = Registry(registry_path(root)).list_runs()[0].run_id
    assert [(r["session"], r["state"], r["reasons"], r["run_id"]) for r in rows] == [
        ("mouse01/ses01", "done", [], run_id),
        ("mouse01/ses02", "never run", [], None),
    ]
    assert main(["status", str(root)]) == 0
    table = _rows(capsys.readouterr().out)
    assert [(r["session"], r["state"], r["run"], r["reasons"]) for r in table] == [
        ("mouse01/ses01", "done", run_id[:8], ""),
        ("mouse01/ses02", "neverrun", "", ""),
    ]


def test_stale_with_reasons_and_failed_with_its_first_error_line(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = root / "configuration.toml"
    config.write_text(
        config.read_text().replace(
            "trial_match_tolerance_s = 0.005", "trial_match_tolerance_s = 0.002"
        )
    )
    (root / "data/processed/mouse01/ses01/sub-mouse01_ses-ses01.nwb").unlink()
    registry = Registry(registry_path(root))
    run_id = registry.start_run(["w2t-bkin", "run"], {})
    registry.record_task(
        run_id,
        TaskRecord(
            task_key="mouse01/ses02",
            status="failed",
            error="synchronization failed: too few trials\n  hint: check the cue TTL",
            phase_durations_s={"configuration": 0.25, "discovery": 0.5},
        ),
    )
    registry.finish_run(run_id, "failed")
    rows = _status_json(root, capsys)
    assert [(r["session"], r["state"], r["reasons"]) for r in rows] == [
        (
            "mouse01/ses01",
            "stale",
            [
                "config synchronization.trial_match_tolerance_s: 0.005 → 0.002",
                "output missing: sub-mouse01_ses-ses01.nwb",
            ],
        ),
        ("mouse01/ses02", "failed", ["synchronization failed: too few trials"]),
    ]
    assert main(["status", str(root), "-x", "ses02"]) == 0
    [row] = _rows(capsys.readouterr().out)
    assert (row["session"], row["state"], row["reasons"]) == (
        "mouse01/ses02",
        "failed",
        _squash("synchronization failed: too few trials"),
    )

    assert main(["runs", "show", run_id[:6], "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert f"run:      {run_id}" in out
    assert "status:   failed" in out
    [task] = _rows(out)
    assert task == {
        "session": "mouse01/ses02",
        "status": "failed",
        "attempts": "1",
        "duration": "0.8s",
        "phases": _squash("configuration 0.2 s discovery 0.5 s"),
        "error": _squash("synchronization failed: too few trials"),
    }

    assert main(["runs", "list", str(root), "--limit", "1"]) == 0
    [listed] = _rows(capsys.readouterr().out)
    assert (listed["run"], listed["status"], listed["sessions"], listed["command"]) == (
        run_id[:8],
        "failed",
        "1failed",
        "w2t-bkinrun",
    )
    assert main(["runs", "list", str(root), "--format", "json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [(r["status"], r["task_counts"]) for r in runs] == [
        ("failed", {"failed": 1}),
        ("succeeded", {"done": 1}),
    ]


def test_unknown_run_id_exits_8_with_the_hint(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["runs", "show", "zzz", "--root", str(root)]) == 8
    err = _squash(capsys.readouterr().err)
    assert _squash(f"error: no run with id 'zzz' in {registry_path(root)}") in err
    assert _squash("hint: list the recorded runs with: w2t-bkin runs list ROOT") in err


def test_runs_list_of_a_workspace_without_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["runs", "list", str(tmp_path)]) == 0
    assert _squash(capsys.readouterr().out) == _squash(f"no runs recorded in {tmp_path}")


def test_status_help_loads_no_heavy_module() -> None:
    probe = (
        "import sys; from w2t_bkin.cli import main; code = main(['status', '--help']); "
        "print(sorted(m for m in ('scipy', 'pynwb', 'av', 'h5py') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"
