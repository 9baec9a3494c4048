"""Provenance record: checksums, config hash, versions, git commit, JSON round trip."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import w2t_bkin
from w2t_bkin.config import Config
from w2t_bkin.errors import IngestError
from w2t_bkin.metadata import SessionMetadata
from w2t_bkin.report.provenance import (
    TRACKED_DISTRIBUTIONS,
    build_provenance,
    describe_file,
    package_versions,
    source_git_commit,
    write_provenance,
)

STARTED = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)
FINISHED = dt.datetime(2024, 5, 1, 12, 1, 30, 500000, tzinfo=dt.UTC)


@pytest.fixture
def metadata() -> SessionMetadata:
    return SessionMetadata.model_validate(
        {
            "session_description": "synthetic session",
            "session_id": "ses-01",
            "subject": {"subject_id": "m1", "species": "Mus musculus", "sex": "F", "age": "P90D"},
            "TTLs": [{"id": "cam0_ttl", "paths": ["TTLs/cam0*.txt"]}],
            "cameras": [{"id": "cam0", "paths": ["Video/cam0*.avi"], "ttl_id": "cam0_ttl"}],
        }
    )


@pytest.fixture
def input_files(tmp_path: Path) -> list[Path]:
    raw = tmp_path / "raw"
    raw.mkdir()
    ttl = raw / "cam0_ttl.txt"
    ttl.write_text("\n".join(f"{t:.4f}" for t in np.arange(100) / 100.0) + "\n")
    video = raw / "cam0.avi"
    video.write_bytes(np.random.default_rng(1).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    return [ttl, video]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_record_contents(
    input_files: list[Path], metadata: SessionMetadata, tmp_path: Path
) -> None:
    out = tmp_path / "sub-m1_ses-01.nwb"
    out.write_bytes(b"fake nwb bytes")
    config = Config()
    prov = build_provenance(
        config=config,
        metadata=metadata,
        inputs=input_files,
        outputs=[out],
        command_line=["w2t-bkin", "run", "m1", "ses-01"],
        started_at=STARTED,
        finished_at=FINISHED,
    )
    assert prov["pipeline"] == "w2t-bkin"
    assert prov["w2t_bkin_version"] == w2t_bkin.__version__
    assert prov["config"] == config.model_dump(mode="json")
    assert prov["config_hash"] == config.config_hash()
    assert prov["metadata"]["subject"]["species"] == "Mus musculus"
    assert prov["metadata"]["cameras"][0]["ttl_id"] == "cam0_ttl"
    assert prov["command_line"] == ["w2t-bkin", "run", "m1", "ses-01"]
    assert prov["started_at"] == "2024-05-01T12:00:00+00:00"
    assert prov["finished_at"] == "2024-05-01T12:01:30.500000+00:00"
    assert prov["duration_s"] == 90.5
    assert prov["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert prov["hostname"]
    assert set(prov["packages"]) == set(TRACKED_DISTRIBUTIONS)
    assert prov["packages"]["numpy"] == np.__version__

    assert [entry["sha256"] for entry in prov["inputs"]] == [_sha(p) for p in input_files]
    assert [entry["size_bytes"] for entry in prov["inputs"]] == [
        input_files[0].stat().st_size,
        50_000,
    ]
    mtime = dt.datetime.fromtimestamp(input_files[1].stat().st_mtime, dt.UTC)
    assert prov["inputs"][1]["mtime"] == mtime.isoformat()
    assert prov["inputs"][1]["symlink_target"] is None
    assert prov["outputs"] == [describe_file(out)]
    assert prov["outputs"][0]["sha256"] == hashlib.sha256(b"fake nwb bytes").hexdigest()
    assert prov["status"] == {"status": "succeeded"}
    # strict JSON: no NaN, no objects
    json.dumps(prov, allow_nan=False)


def test_failed_run_without_configuration_records_its_status(tmp_path: Path) -> None:
    status = {
        "status": "failed",
        "failed_phase": "configuration",
        "error": "bad key",
        "exit_code": 2,
    }
    prov = build_provenance(
        config=None, metadata=None, inputs=[], started_at=STARTED, status=status
    )
    assert prov["status"] == status
    assert (prov["config"], prov["config_hash"], prov["metadata"]) == (None, None, None)
    assert prov["inputs"] == [] and prov["outputs"] == []
    json.dumps(prov, allow_nan=False)


def test_symlinked_input_records_target_and_content_hash(
    input_files: list[Path], tmp_path: Path
) -> None:
    link = tmp_path / "linked_video.avi"
    link.symlink_to(input_files[1])
    entry = describe_file(link)
    assert entry["path"] == str(link)
    assert entry["symlink_target"] == str(input_files[1])
    assert entry["resolved_path"] == str(input_files[1].resolve())
    assert entry["sha256"] == _sha(input_files[1])
    assert entry["size_bytes"] == 50_000


def test_checksums_can_be_skipped(input_files: list[Path], metadata: SessionMetadata) -> None:
    prov = build_provenance(
        config=Config(),
        metadata=metadata,
        inputs=input_files,
        checksum_inputs=False,
        started_at=STARTED,
    )
    assert [entry["sha256"] for entry in prov["inputs"]] == [None, None]
    assert prov["outputs"] == []
    assert prov["command_line"] == sys.argv
    finished = dt.datetime.fromisoformat(prov["finished_at"])
    assert finished.tzinfo is not None
    assert finished >= STARTED


def test_missing_input_names_the_file(metadata: SessionMetadata, tmp_path: Path) -> None:
    with pytest.raises(IngestError, match=r"provenance of .*gone\.txt"):
        build_provenance(
            config=Config(),
            metadata=metadata,
            inputs=[tmp_path / "gone.txt"],
            started_at=STARTED,
        )
    dangling = tmp_path / "dangling.avi"
    dangling.symlink_to(tmp_path / "nowhere.avi")
    with pytest.raises(IngestError, match=r"dangling\.avi.*symlink to .*nowhere\.avi"):
        describe_file(dangling)


def test_config_hash_stable_and_sensitive() -> None:
    base = Config()
    assert Config().config_hash() == base.config_hash()
    changed = Config.model_validate({"synchronization": {"trial_match_tolerance_s": 0.01}})
    assert changed.config_hash() != base.config_hash()
    same_values = Config.model_validate({"synchronization": {"trial_match_tolerance_s": 0.005}})
    assert same_values.config_hash() == base.config_hash()


def test_naive_times_become_timezone_aware(metadata: SessionMetadata) -> None:
    naive = dt.datetime(2024, 5, 1, 12, 0, 0)
    prov = build_provenance(
        config=Config(),
        metadata=metadata,
        inputs=[],
        started_at=naive,
        finished_at=naive + dt.timedelta(seconds=2),
    )
    started = dt.datetime.fromisoformat(prov["started_at"])
    assert started.tzinfo is not None
    assert started.replace(tzinfo=None) == naive
    assert prov["duration_s"] == 2.0


def test_package_versions_missing_is_none() -> None:
    versions = package_versions(["numpy", "w2t-definitely-not-installed"])
    assert versions == {"numpy": np.__version__, "w2t-definitely-not-installed": None}


def test_git_commit_of_checkout_and_of_plain_folder(tmp_path: Path) -> None:
    assert source_git_commit(tmp_path) is None
    package_dir = Path(w2t_bkin.__file__).parent
    expected = subprocess.run(
        ["git", "-C", str(package_dir), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    commit = source_git_commit()
    if expected.returncode == 0 and (package_dir / "__init__.py").exists():
        assert commit == expected.stdout.strip()
        assert len(commit) == 40
    else:
        assert commit is None


def test_git_commit_ignores_untracked_package_inside_other_repo(tmp_path: Path) -> None:
    repo = tmp_path / "user_project"
    pkg = repo / ".venv" / "site-packages" / "w2t_bkin"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull}
    for args in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "x"]):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo), *args],
            check=True,
            env=env,
        )
    assert source_git_commit(pkg) is None


def test_write_provenance_round_trip(
    input_files: list[Path], metadata: SessionMetadata, tmp_path: Path
) -> None:
    prov = build_provenance(
        config=Config(),
        metadata=metadata,
        inputs=input_files,
        command_line=["w2t-bkin", "run"],
        started_at=STARTED,
        finished_at=FINISHED,
    )
    path = write_provenance(prov, tmp_path / "processed" / "provenance.json")
    assert json.loads(path.read_text()) == prov
