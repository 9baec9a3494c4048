"""The cache decision: cached only when nothing changed, otherwise every reason, exactly."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from w2t_bkin import __version__
from w2t_bkin.runtime.registry import Registry, TaskRecord, registry_path, utc_now
from w2t_bkin.session import process_session
from w2t_bkin.session.cache import (
    CacheDecision,
    cache_key,
    decide,
    diff,
    fingerprint_record,
    output_records,
    session_cache_inputs,
)
from w2t_bkin.testing import write_experiment

KEY = "mouse01/ses01"
NWB = "sub-mouse01_ses-ses01.nwb"


def record_session(root: Path, subject: str = "mouse01", session: str = "ses01") -> TaskRecord:
    """Process a session and record it as a coordinator would; returns the recorded task."""
    result = process_session(root, subject, session)
    assert result.ok, result.error
    fingerprint, sections, metadata = session_cache_inputs(root, subject, session)
    registry = Registry(registry_path(root))
    run_id = registry.start_run(["w2t-bkin", "run", str(root)], {})
    outputs_dir = root / "data" / "processed" / subject / session
    registry.record_task(
        run_id,
        TaskRecord(
            task_key=f"{subject}/{session}",
            status="done",
            cache_key=cache_key(fingerprint),
            started_at=utc_now(),
            finished_at=utc_now(),
            phase_durations_s=result.phase_durations_s,
            outputs=output_records(result.outputs, outputs_dir),
            warnings=tuple(result.warnings),
            fingerprint=fingerprint_record(fingerprint, sections, metadata),
        ),
    )
    registry.finish_run(run_id, "succeeded")
    latest = registry.latest_task(f"{subject}/{session}")
    assert latest is not None
    return latest


@pytest.fixture(scope="module")
def processed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cache") / "exp"
    write_experiment(root)
    record_session(root)
    return root


@pytest.fixture
def root(processed: Path, workspace_copy: Callable[[Path], Path]) -> Path:
    """A copy of the processed workspace, free to change."""
    return workspace_copy(processed)


def _decide(root: Path, previous: TaskRecord | None = None, force: bool = False) -> CacheDecision:
    registry = Registry(registry_path(root))
    if previous is None:
        previous = registry.latest_task(KEY)
    current, sections, metadata = session_cache_inputs(root, "mouse01", "ses01")
    outputs = root / "data" / "processed" / "mouse01" / "ses01"
    return decide(KEY, current, sections, metadata, previous, outputs, force)


def _previous(root: Path) -> TaskRecord:
    latest = Registry(registry_path(root)).latest_task(KEY)
    assert latest is not None
    return latest


def test_cached_when_nothing_changed(root: Path) -> None:
    assert _decide(root) == CacheDecision("cached", ())
    assert not _decide(root).must_run


def test_the_recorded_outputs_carry_their_checksums(root: Path) -> None:
    outputs = _previous(root).outputs
    assert outputs["nwb"].path == NWB
    assert outputs["provenance"].path == "provenance.json"
    assert outputs["qc_report"].path == "qc/report.html"
    assert outputs["nwb"].size_bytes == (root / "data/processed/mouse01/ses01" / NWB).stat().st_size


def test_never_run(root: Path) -> None:
    current, sections, metadata = session_cache_inputs(root, "mouse01", "ses01")
    decision = decide(KEY, current, sections, metadata, None, root, force=False)
    assert decision == CacheDecision("run", ("never run",))


def test_forced(root: Path) -> None:
    assert _decide(root, force=True) == CacheDecision("run", ("forced (--force)",))


def test_last_run_failed(root: Path) -> None:
    failed = dataclasses.replace(_previous(root), status="failed", error="boom")
    assert _decide(root, failed) == CacheDecision("run", ("last run failed",))


def test_input_changed(root: Path) -> None:
    with (root / "data/raw/mouse01/ses01/TTLs/cue.txt").open("a") as f:
        f.write("99.0\n")
    assert _decide(root) == CacheDecision("stale", ("input changed: TTLs/cue.txt",))


def test_input_added_and_removed(root: Path) -> None:
    previous = _previous(root)
    inputs = dict(previous.fingerprint["input_sha256"])
    del inputs["TTLs/cue.txt"]
    inputs["TTLs/old.txt"] = "0" * 64
    fingerprint = {**previous.fingerprint, "input_sha256": inputs}
    decision = _decide(root, dataclasses.replace(previous, fingerprint=fingerprint))
    assert decision == CacheDecision(
        "stale", ("input added: TTLs/cue.txt", "input removed: TTLs/old.txt")
    )


def test_config_change_names_the_key_old_and_new(root: Path) -> None:
    config = root / "configuration.toml"
    text = config.read_text()
    assert "trial_match_tolerance_s = 0.005\n" in text
    config.write_text(
        text.replace("trial_match_tolerance_s = 0.005", "trial_match_tolerance_s = 0.006")
    )
    assert _decide(root) == CacheDecision(
        "stale", ("config synchronization.trial_match_tolerance_s: 0.005 → 0.006",)
    )


def test_a_setting_that_changes_no_output_keeps_the_cache(root: Path) -> None:
    config = root / "configuration.toml"
    text = config.read_text()
    assert 'log_level = "INFO"' in text
    config.write_text(text.replace('log_level = "INFO"', 'log_level = "DEBUG"'))
    assert _decide(root) == CacheDecision("cached", ())


def test_metadata_change_names_the_key_old_and_new(root: Path) -> None:
    subject = root / "data/raw/mouse01/subject.toml"
    text = subject.read_text()
    assert 'sex = "F"' in text
    subject.write_text(text.replace('sex = "F"', 'sex = "M"'))
    assert _decide(root) == CacheDecision("stale", ("metadata subject.sex: 'F' → 'M'",))


def test_package_version_changed(root: Path) -> None:
    previous = _previous(root)
    older = {**previous.fingerprint, "w2t_bkin_version": "0.0.1"}
    decision = _decide(root, dataclasses.replace(previous, fingerprint=older))
    assert decision == CacheDecision("stale", (f"package version changed: 0.0.1 → {__version__}",))


def test_output_missing(root: Path) -> None:
    (root / "data/processed/mouse01/ses01" / NWB).unlink()
    assert _decide(root) == CacheDecision("stale", (f"output missing: {NWB}",))


def test_output_changed(root: Path) -> None:
    with (root / "data/processed/mouse01/ses01/provenance.json").open("a") as f:
        f.write(" ")
    assert _decide(root) == CacheDecision(
        "stale", ("output changed: provenance.json (checksum differs)",)
    )


def test_forced_with_changes_lists_them_too(root: Path) -> None:
    (root / "data/processed/mouse01/ses01/qc/report.html").unlink()
    assert _decide(root, force=True) == CacheDecision(
        "run", ("forced (--force)", "output missing: qc/report.html")
    )


def test_cache_key_is_the_fingerprint_and_the_version(root: Path) -> None:
    current, _, _ = session_cache_inputs(root, "mouse01", "ses01")
    assert _previous(root).cache_key == cache_key(current)
    changed = dataclasses.replace(current, config_sha256="0" * 64)
    assert cache_key(changed) != cache_key(current)


def test_diff_names_nested_keys_list_items_by_index_or_id() -> None:
    before = {
        "cameras": [{"id": "cam0", "fps": 30}, {"id": "cam1", "fps": 30}],
        "tags": ["a", "b"],
        "subject": {"sex": "F"},
    }
    now = {
        "cameras": [{"id": "cam1", "fps": 60}, {"id": "cam2", "fps": 30}],
        "tags": ["a", "c", "d"],
        "subject": {"sex": "F", "age": "P90D"},
    }
    shown = [(key, old, new) for key, old, new in diff(before, now)]
    assert [key for key, _, _ in shown] == [
        "cameras[cam0]",
        "cameras[cam1].fps",
        "cameras[cam2]",
        "subject.age",
        "tags[1]",
        "tags[2]",
    ]
    assert shown[1][1:] == (30, 60)
    assert shown[4][1:] == ("b", "c")
