"""The run summary: warnings shown, paths never cut, each error printed once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from w2t_bkin.cli.run_cmd import _print_result, _summary
from w2t_bkin.model.results import SessionResult, SessionStatus
from w2t_bkin.session.outputs import session_lock
from w2t_bkin.testing import ExperimentSpec, write_experiment

NWB = Path(
    "/data/a/rather/long/experiment/root/data/processed/mouse01/ses01/sub-mouse01_ses-ses01.nwb"
)
WARNINGS = [
    "cam0: 3 frame pulses missing between 12.0 s and 12.2 s were repaired by interpolation; "
    "their timestamps are estimates",
    "cam1: 1 dropped frame",
    "bpod: trial 7 has no sync pulse",
]


def _squash(text: str) -> str:
    return "".join(text.split())


def _columns(out: str) -> dict[str, str]:
    """The table of one session: each column's text, its folded lines joined without spaces."""
    lines = [line for line in out.splitlines() if line.startswith(("┃", "│"))]
    header = [cell.strip() for cell in lines[0].split("┃")[1:-1]]
    parts: dict[str, str] = dict.fromkeys(header, "")
    for line in lines[1:]:
        for name, cell in zip(header, line.split("│")[1:-1], strict=True):
            parts[name] += _squash(cell)
    return parts


def test_warnings_count_and_first_with_the_full_output_path(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = SessionResult(
        "mouse01",
        "ses01",
        status=SessionStatus.SUCCEEDED,
        outputs={"nwb": NWB},
        warnings=WARNINGS,
        phase_durations_s={"ingestion": 1.5, "synchronization": 2.5, "assembly": 0.5},
    )
    assert _summary([result]) == 0  # warnings never change the exit code
    columns = _columns(capsys.readouterr().out)
    assert columns == {
        "session": "mouse01/ses01",
        "status": "succeeded",
        "duration": "4.5s",  # the sum of the phases
        "warnings": _squash("3: cam0: 3 frame pulses missing between 12.0 s and 12.2 s were …"),
        "output": str(NWB),  # folded onto several lines, never cut
        "error": "",
    }


def test_failed_session_shows_its_first_error_line_and_exit_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = SessionResult(
        "mouse01",
        "ses02",
        status=SessionStatus.FAILED,
        error="verification failed: cue.txt: line 5: expected a number\n  hint: fix line 5",
        failed_phase="verification",
        exit_code=5,
        phase_durations_s={"configuration": 0.5},
    )
    assert _summary([result]) == 5
    columns = _columns(capsys.readouterr().out)
    assert columns["error"] == _squash("verification failed: cue.txt: line 5: expected a number")
    assert columns["warnings"] == "0" and columns["output"] == ""
    assert columns["duration"] == "0.5s" and columns["status"] == "failed"


def test_a_session_with_warnings_does_not_say_only_succeeded(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = SessionResult("mouse01", "ses01", status=SessionStatus.SUCCEEDED, warnings=WARNINGS)
    _print_result(result)
    out = capsys.readouterr().out
    assert "  succeeded with 3 warnings mouse01/ses01\n" in out
    assert "    warning bpod: trial 7 has no sync pulse\n" in out


def test_a_session_whose_lock_is_held_reports_its_error_once(tmp_path: Path) -> None:
    root = tmp_path / "exp"
    write_experiment(root, ExperimentSpec(n_sessions=1, duration_s=1.0, rate_hz=20.0))
    with session_lock(root, "mouse01", "ses01"):  # another run holds the session
        result = subprocess.run(
            [sys.executable, "-m", "w2t_bkin", "run", str(root)],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=300,
        )
    assert result.returncode == 6, result.stderr
    output = result.stdout + result.stderr
    assert output.count("is being processed by another run") == 1, output
    assert "  busy mouse01/ses01: " in result.stderr
    assert "session mouse01/ses01 is being processed by another run (pid " in result.stderr
