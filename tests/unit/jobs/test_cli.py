"""``w2t-bkin jobs ...`` through ``w2t_bkin.cli.main``: exit codes, messages, JSON output."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from w2t_bkin.cli import main
from w2t_bkin.testing.video import write_video


def _archive(tmp_path: Path, members: dict[str, bytes]) -> Path:
    path = tmp_path / "jobs.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_ingest_watch_once_status_json_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = write_video(tmp_path / "v.mp4", 6, 30.0).read_bytes()
    archive = _archive(tmp_path, {"m1/a.mp4": video, "m1/b.mp4": video, "m2/c.mp4": video})
    data = str(tmp_path / "data")

    assert main(["jobs", "ingest", str(archive), "-d", data]) == 0
    assert "added m1: 2 video(s)" in capsys.readouterr().out
    assert (
        main(["jobs", "watch", "-d", data, "--backend", "synthetic", "--once", "--poll", "0.02"])
        == 0
    )
    assert "2 job(s) completed, 0 failed, 3 video(s) processed" in capsys.readouterr().out

    assert main(["jobs", "status", "-d", data, "--json"]) == 0
    view = json.loads(capsys.readouterr().out)
    assert view["source"] == "file"
    jobs = view["status"]["jobs"]
    assert {name: (j["state"], j["videos_done"]) for name, j in jobs.items()} == {
        "m1": ("completed", 2),
        "m2": ("completed", 1),
    }
    assert main(["jobs", "status", "-d", data, "--job", "m2"]) == 0
    table = capsys.readouterr().out
    assert "m2" in table and "completed" in table and "m1" not in table


def test_watch_once_exits_1_when_a_job_failed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = tmp_path / "data" / "in" / "broken"
    job.mkdir(parents=True)
    (job / "v.mp4").write_bytes(b"garbage")
    (job / ".ready").write_bytes(b"")
    data = str(tmp_path / "data")
    code = main(["jobs", "watch", "-d", data, "--backend", "synthetic", "--once", "--poll", "0.02"])
    assert code == 1
    assert "0 job(s) completed, 1 failed" in capsys.readouterr().out


def test_ingest_of_an_unsafe_archive_exits_4_with_the_member_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = _archive(tmp_path, {"../../evil.mp4": b"x"})
    assert main(["jobs", "ingest", str(archive), "-d", str(tmp_path / "d")]) == 4
    err = capsys.readouterr().err
    assert "'../../evil.mp4' climbs out of the archive" in err and "hint:" in err


def test_retry_of_an_unknown_job_exits_9(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["jobs", "retry", "ghost", "-d", str(tmp_path)]) == 9
    assert "no job named 'ghost'" in capsys.readouterr().err


def test_reset_without_yes_removes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "status.json").write_text("{}")
    assert main(["jobs", "reset", "-d", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "would remove" in out and "add --yes" in out
    assert (tmp_path / "out" / "status.json").exists()
    assert main(["jobs", "reset", "-d", str(tmp_path), "--yes"]) == 0
    assert not (tmp_path / "out" / "status.json").exists()


def test_bad_backend_option_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["jobs", "watch", "-d", str(tmp_path), "--once", "-o", "novalue"]) == 2
    assert "--option 'novalue' is not KEY=VALUE" in capsys.readouterr().err


def test_missing_model_stops_the_daemon_before_any_job_is_touched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = tmp_path / "in" / "waiting"
    job.mkdir(parents=True)
    write_video(job / "v.mp4", 2, 30.0)
    (job / ".ready").write_bytes(b"")
    missing = tmp_path / "nope.task"
    code = main(["jobs", "watch", "-d", str(tmp_path), "--once", "--model", str(missing)])
    assert code == 4
    assert "MediaPipe pose model not found" in capsys.readouterr().err
    assert (job / "v.mp4").exists() and not (tmp_path / "failed" / "waiting").exists()
    assert main(["jobs", "watch", "-d", str(tmp_path), "--once", "--backend", "nosuch"]) == 2
    assert "unknown pose backend 'nosuch'" in capsys.readouterr().err


def test_status_of_a_folder_that_does_not_exist_exits_9(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["jobs", "status", "-d", str(tmp_path / "nowhere")]) == 9
    assert "no job data folder at" in capsys.readouterr().err
