"""Every key of ``configuration.toml`` changes what the pipeline does.

The keys are enumerated from the pydantic schema (:class:`w2t_bkin.config.Config`), so a key
added without an effect test here fails :func:`test_every_config_key_has_an_effect_test`. Each
test changes one key from its default, keeps every other key fixed, runs the pipeline
(:func:`w2t_bkin.session.process_session`, or one phase of it) on a synthetic session and
asserts an observable difference: a value in the NWB file or the alignment statistics, an output
file present or absent, a line of ``pipeline.log``, an error instead of success.

One workspace is generated for the module; a test that needs a faulty raw file edits a copy.
Outputs of each run are moved to their own folder, so no run sees a file another one wrote.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import h5py
import numpy as np
import pytest
import tomli_w
from pydantic import BaseModel

from w2t_bkin.cli.run_cmd import run_sessions
from w2t_bkin.config import Config, load_config, render_config_template
from w2t_bkin.errors import (
    ConfigError,
    DataQualityWarning,
    IngestError,
    VerificationError,
)
from w2t_bkin.io_utils import sha256_file
from w2t_bkin.session import (
    SessionContext,
    SessionResult,
    discover_files,
    load_context,
    process_session,
    verify_inputs,
)
from w2t_bkin.session.ingest import ingest
from w2t_bkin.sources.pose.io import read_pose
from w2t_bkin.testing import ExperimentSpec, write_experiment
from w2t_bkin.testing.experiment import DLC_SCORER
from w2t_bkin.testing.pose import write_dlc_h5
from w2t_bkin.testing.video import write_raw_h264
from w2t_bkin.workspace.layout import Workspace

SUBJECT, SESSION = "mouse01", "ses01"
RAW = Path("data/raw") / SUBJECT / SESSION
NWB_NAME = f"sub-{SUBJECT}_ses-{SESSION}.nwb"

# 597 frames per camera (3 dropped); the TTL table has more rows than the smallest chunk_rows.
SPEC = ExperimentSpec(
    duration_s=6.0,
    rate_hz=100.0,
    n_keypoints=2,
    width=32,
    height=32,
    n_video_chunks=2,
    camera_drift_ppm=20.0,
    bpod_drift_ppm=50.0,
    jitter_s=1e-4,
    dropped_frame_fraction=0.005,
    missing_sync_fraction=0.2,
    n_trials=10,
    n_sessions=2,
)
# finalization is slow (nwbinspector, QC figures) and only under test in its own section
FAST = {
    "finalization.validate_nwb": False,
    "finalization.qc_report": False,
    "finalization.provenance": False,
}

# --------------------------------------------------------------------------------------------
# the schema and the registry of effect tests

F = TypeVar("F", bound=Callable[..., None])
EFFECT_TESTS: dict[str, str] = {}


def effect_of(*keys: str) -> Callable[[F], F]:
    """Register the decorated test as the one showing the effect of ``keys``."""

    def register(test: F) -> F:
        for key in keys:
            assert key not in EFFECT_TESTS, f"{key} has two effect tests"
            EFFECT_TESTS[key] = test.__name__
        return test

    return register


def schema_keys() -> set[str]:
    """Dotted names of every key of ``configuration.toml`` (``section.key``, or ``key``)."""
    keys = set()
    for name, field in Config.model_fields.items():
        section = field.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            keys |= {f"{name}.{key}" for key in section.model_fields}
        else:
            keys.add(name)
    return keys


def default_of(key: str) -> Any:
    value: Any = Config()
    for part in key.split("."):
        value = getattr(value, part)
    return value


def make_config(settings: Mapping[str, Any]) -> Config:
    """A validated configuration from dotted keys, e.g. ``{"assembly.shuffle": False}``."""
    nested: dict[str, Any] = {}
    for key, value in settings.items():
        *sections, name = key.split(".")
        table = nested
        for section in sections:
            table = table.setdefault(section, {})
        table[name] = value
    return Config.model_validate(nested)


def changed(key: str, value: Any, base: Mapping[str, Any] = FAST) -> tuple[Config, Config]:
    """``base`` with ``key`` at its default, and ``base`` with ``key = value``."""
    assert key in schema_keys() and key not in base
    assert value != default_of(key), f"{key} = {value!r} is its default"
    return make_config(base), make_config({**base, key: value})


def test_every_config_key_has_an_effect_test() -> None:
    keys = schema_keys()
    assert {"schema_version", "execution.log_level"} <= keys and len(keys) >= 28
    untested = sorted(keys - set(EFFECT_TESTS))
    assert not untested, f"configuration keys without an effect test: {untested}"
    unknown = sorted(set(EFFECT_TESTS) - keys)
    assert not unknown, f"effect tests of keys the schema does not have: {unknown}"


# --------------------------------------------------------------------------------------------
# fixtures and helpers

_RUN_IDS = itertools.count()


@dataclass(frozen=True)
class Run:
    result: SessionResult
    out: Path  # the processed folder of the run, moved out of the workspace

    @property
    def stats(self) -> dict[str, dict[str, Any]]:
        return {s.stream_id: s.to_dict() for s in self.result.stats}

    @property
    def nwb(self) -> Path:
        return self.out / NWB_NAME


def run_session(root: Path, config: Config, keep: Path) -> Run:
    """``process_session`` of mouse01/ses01 under ``config``; outputs are moved to ``keep``."""
    n = next(_RUN_IDS)
    config_path = keep / f"configuration-{n}.toml"
    config_path.write_text(render_config_template(config))
    result = process_session(root, SUBJECT, SESSION, config_path=config_path)
    out = keep / f"run-{n}"
    shutil.move(root / "data/processed" / SUBJECT / SESSION, out)
    return Run(result, out)


def copy_workspace(root: Path, tmp_path: Path) -> Path:
    target = tmp_path / "exp"
    shutil.copytree(root, target, ignore=shutil.ignore_patterns(".w2t", "processed"))
    (target / ".w2t").mkdir()
    return target


def edit_toml(path: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    data = tomllib.loads(path.read_text())
    edit(data)
    path.write_text(tomli_w.dumps(data))


def verified(root: Path, config: Config) -> tuple[SessionContext, Any]:
    """Configuration, discovery and verification phases under ``config``."""
    ctx = replace(load_context(root, SUBJECT, SESSION, None), config=config)
    return ctx, verify_inputs(ctx, discover_files(ctx))


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("effects") / "exp"
    truth = write_experiment(root, SPEC)
    return root, truth[f"{SUBJECT}/{SESSION}"]


@pytest.fixture(scope="module")
def keep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def reference(experiment: tuple[Path, dict[str, Any]], keep: Path) -> Run:
    """The run every FAST-based test compares with: FAST, all other keys at their defaults."""
    run = run_session(experiment[0], make_config(FAST), keep)
    assert run.result.ok, run.result.error
    return run


def cue_stats(run: Run) -> dict[str, Any]:
    return run.stats["bpod:ttl_cue"]


# --------------------------------------------------------------------------------------------
# schema_version


@effect_of("schema_version")
def test_schema_version_other_than_1_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "configuration.toml"
    path.write_text(render_config_template())
    assert load_config(path) == Config()
    path.write_text(render_config_template().replace("schema_version = 1", "schema_version = 2"))
    with pytest.raises(ConfigError, match=r":3: schema_version: .*1") as info:
        load_config(path)
    assert info.value.exit_code == 2


# --------------------------------------------------------------------------------------------
# verification


def use_raw_h264(root: Path, camera_ids: tuple[str, ...]) -> None:
    """Replace the cameras' MP4 chunks by raw H.264 streams: frames without timestamps."""
    for camera_id in camera_ids:
        for mp4 in sorted((root / RAW / "Video" / camera_id).glob("*.mp4")):
            write_raw_h264(mp4, mp4.with_suffix(".h264"))
            mp4.unlink()

    def point_to_h264(metadata: dict[str, Any]) -> None:
        for camera in metadata["cameras"]:
            if camera["id"] in camera_ids:
                camera["paths"] = [f"Video/{camera['id']}/*.h264"]

    edit_toml(root / "data/raw/metadata.toml", point_to_h264)


@pytest.fixture(scope="module")
def lost_pulses(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """Camera drops and lost frame pulses together, and no container timestamps to tell them
    apart: an ambiguous frame/pulse mismatch."""
    root = tmp_path_factory.mktemp("lost") / "exp"
    spec = replace(SPEC, n_sessions=1, missing_frame_pulse_fraction=0.003, seed=1)
    truth = write_experiment(root, spec)[f"{SUBJECT}/{SESSION}"]
    use_raw_h264(root, ("cam0", "cam1"))
    return root, truth


@pytest.fixture(scope="module")
def lost_pulses_default(lost_pulses: tuple[Path, dict[str, Any]], keep: Path) -> Run:
    return run_session(lost_pulses[0], make_config(FAST), keep)


@effect_of("verification.frame_pulse_policy")
@pytest.mark.parametrize("policy", ["warn", "repair"])
def test_frame_pulse_policy(
    lost_pulses: tuple[Path, dict[str, Any]], lost_pulses_default: Run, keep: Path, policy: str
) -> None:
    root, truth = lost_pulses
    _, relaxed = changed("verification.frame_pulse_policy", policy)
    cam0 = truth["cameras"]["cam0"]
    assert len(cam0["missing_pulse_frames"]) == 2 and len(cam0["dropped_frames"]) == 3

    failed = lost_pulses_default
    assert failed.result.failed_phase == "synchronization"
    error = failed.result.error or ""
    assert re.search(rf"{cam0['n_frames']} frames .*\b{cam0['n_pulses']} (TTL )?pulses", error)
    assert "cannot tell camera drops from lost pulses" in error
    assert "verification.frame_pulse_policy = 'repair'" in error  # the hint names the key
    assert not failed.nwb.exists()

    run = run_session(root, relaxed, keep)
    assert run.result.ok, run.result.error
    expected_status = {"warn": "mismatch", "repair": "repaired"}[policy]
    for camera_id, cam in truth["cameras"].items():
        stats = run.stats[camera_id]
        assert stats["status"] == expected_status
        assert stats["n_items"] == cam["n_frames"]
        # the policy had to guess: no frame is claimed to have its pulse
        assert stats["n_matched"] == 0
        assert "no frame is matched to a pulse (frame_has_pulse = False" in stats["notes"]
    mismatch_warnings = [w for w in run.result.warnings if "frame/pulse mismatch" in w]
    assert len(mismatch_warnings) == 2  # a guess is never silent, whichever policy made it


@effect_of("verification.pose_frame_policy")
def test_pose_frame_policy(experiment: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    root = copy_workspace(experiment[0], tmp_path)
    chunk = root / RAW / "Pose/cam0" / f"cam0_chunk00{DLC_SCORER}.h5"
    pose = read_pose(chunk)
    n_video = pose.n_frames
    # the pose file lost its last 5 frames
    write_dlc_h5(
        chunk, pose.positions[:-5], pose.confidence[:-5], pose.keypoint_names, scorer=DLC_SCORER
    )
    default, warn = changed("verification.pose_frame_policy", "warn")

    ctx, inputs = verified(root, default)
    with pytest.raises(VerificationError, match=rf"{chunk.name}.*{n_video - 5}.*{n_video}"):
        ingest(ctx, inputs)

    ctx, inputs = verified(root, warn)
    with pytest.warns(DataQualityWarning, match=rf"{n_video - 5} pose frames for .*{n_video}"):
        ingested = ingest(ctx, inputs)
    positions = ingested.pose["cam0"].positions
    assert np.isnan(positions[n_video - 5 : n_video]).all()
    np.testing.assert_array_equal(positions[: n_video - 5], pose.positions[:-5])


# --------------------------------------------------------------------------------------------
# synchronization


def _trials_column(run: Run, column: str) -> np.ndarray:
    with h5py.File(run.nwb, "r") as f:
        return np.asarray(f["intervals/trials"][column][()])


@effect_of("synchronization.trial_match_tolerance_s")
def test_trial_match_tolerance(
    experiment: tuple[Path, dict[str, Any]], reference: Run, keep: Path
) -> None:
    root, truth = experiment
    missing = truth["trials"]["missing_pulse_trials"]
    assert cue_stats(reference)["n_matched"] == truth["trials"]["n_trials"] - len(missing)
    assert cue_stats(reference)["missing_idx"] == missing

    # below the 0.1 ms pulse jitter no onset lands on its pulse
    _, tight = changed("synchronization.trial_match_tolerance_s", 1e-6)
    run = run_session(root, tight, keep)
    assert run.result.failed_phase == "synchronization"
    assert "matched a TTL pulse within 0.001 ms" in (run.result.error or "")


@effect_of("synchronization.min_matched_trials")
def test_min_matched_trials(
    experiment: tuple[Path, dict[str, Any]], reference: Run, keep: Path
) -> None:
    root, _ = experiment
    n_matched = cue_stats(reference)["n_matched"]
    assert n_matched == cue_stats(reference)["n_pulses"] == 8
    _, strict = changed("synchronization.min_matched_trials", n_matched + 1)
    run = run_session(root, strict, keep)
    assert run.result.failed_phase == "synchronization"
    error = run.result.error or ""
    assert f"at least {n_matched + 1} are needed" in error and f"{n_matched} pulses" in error


@effect_of("synchronization.unaligned_trial_policy")
def test_unaligned_trial_policy(experiment: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    root = copy_workspace(experiment[0], tmp_path)
    types = np.asarray(experiment[1]["trials"]["trial_types"])
    assert np.count_nonzero(types == 3) == 3

    def forget_type_3(metadata: dict[str, Any]) -> None:
        rules = metadata["bpod"]["sync"]["trial_types"]
        metadata["bpod"]["sync"]["trial_types"] = [r for r in rules if r["trial_type"] != 3]

    # the sync rule of trial type 3 is missing: its trials cannot be aligned by a pulse
    edit_toml(root / "data/raw/metadata.toml", forget_type_3)
    flag, fail = changed("synchronization.unaligned_trial_policy", "fail")

    run = run_session(root, flag, tmp_path)
    assert run.result.ok, run.result.error
    alignment = _trials_column(run, "alignment").astype(str)
    np.testing.assert_array_equal(alignment == "unaligned", types == 3)

    run = run_session(root, fail, tmp_path)
    assert run.result.failed_phase == "synchronization"
    assert "synchronization.unaligned_trial_policy = 'flag'" in (run.result.error or "")
    assert not run.nwb.exists()


def _clock_fit(run: Run) -> tuple[float, np.ndarray]:
    assert run.result.ok, run.result.error
    return cue_stats(run)["residual_rms_ms"], _trials_column(run, "start_time")


@effect_of("synchronization.clock_model")
def test_clock_model(experiment: tuple[Path, dict[str, Any]], keep: Path) -> None:
    root, truth = experiment
    base = {**FAST, "synchronization.piecewise_segment_s": 4.0}
    linear, piecewise = changed("synchronization.clock_model", "piecewise", base)
    rms_linear, start_linear = _clock_fit(run_session(root, linear, keep))
    rms_piecewise, start_piecewise = _clock_fit(run_session(root, piecewise, keep))
    # one drift per 4 s segment follows the jittered onsets more closely than one line
    assert rms_piecewise < rms_linear
    assert not np.array_equal(start_piecewise, start_linear)
    # both stay on the true clock: the Bpod drift is constant
    true_start = np.asarray(truth["trials"]["trial_start_reference_s"])
    for start in (start_linear, start_piecewise):
        assert np.max(np.abs(start - true_start)) < 2e-4


@effect_of("synchronization.piecewise_segment_s")
def test_piecewise_segment(
    experiment: tuple[Path, dict[str, Any]], reference: Run, keep: Path
) -> None:
    root, _ = experiment
    base = {**FAST, "synchronization.clock_model": "piecewise"}
    whole, short = changed("synchronization.piecewise_segment_s", 4.0, base)
    rms_whole, start_whole = _clock_fit(run_session(root, whole, keep))
    rms_short, start_short = _clock_fit(run_session(root, short, keep))
    # a 300 s segment covers the ~30 s Bpod session: one segment, the linear fit exactly
    rms_linear, start_linear = _clock_fit(reference)
    assert rms_whole == rms_linear
    np.testing.assert_array_equal(start_whole, start_linear)
    assert rms_short < rms_whole
    assert not np.array_equal(start_short, start_whole)


@effect_of("synchronization.pulse_gap_factor")
def test_pulse_gap_factor(
    experiment: tuple[Path, dict[str, Any]], reference: Run, keep: Path
) -> None:
    root, truth = experiment
    for camera_id, cam in truth["cameras"].items():
        assert reference.stats[camera_id]["dropped_idx"] == cam["dropped_frames"] != []
    # single drops leave a 2-period interval: with a 10-period threshold none is a gap
    _, blind = changed("synchronization.pulse_gap_factor", 10.0)
    run = run_session(root, blind, keep)
    assert run.result.ok, run.result.error
    for camera_id in truth["cameras"]:
        assert run.stats[camera_id]["dropped_idx"] == []
        assert run.stats[camera_id]["status"] == "exact"


@effect_of("synchronization.spurious_pulse_factor")
def test_spurious_pulse_factor(
    experiment: tuple[Path, dict[str, Any]], reference: Run, tmp_path: Path
) -> None:
    root = copy_workspace(experiment[0], tmp_path)
    ttl = root / RAW / "TTLs/cam0_frame.txt"
    lines = ttl.read_text().splitlines()
    # a glitch 1 ms (a tenth of a period) after pulse 150: on the frame grid, but too close
    glitch = f"{float(lines[150]) + 0.001:.9f}"
    ttl.write_text("\n".join([*lines[:151], glitch, *lines[151:]]) + "\n")
    default, lenient = changed("synchronization.spurious_pulse_factor", 0.05)

    run = run_session(root, default, tmp_path)
    assert run.result.ok, run.result.error
    assert run.stats["cam0"]["spurious_idx"] == [151]
    with h5py.File(run.nwb, "r") as f, h5py.File(reference.nwb, "r") as ref:
        np.testing.assert_array_equal(f[CAM0_TIMES][()], ref[CAM0_TIMES][()])

    # 0.1 period is not closer than 0.05: the glitch stays, one pulse too many
    run = run_session(root, lenient, tmp_path)
    assert run.result.failed_phase == "synchronization"
    assert "0 removed as spurious" in (run.result.error or "")


# --------------------------------------------------------------------------------------------
# ingestion


@effect_of("ingestion.video_decode_timeout_s")
def test_video_decode_timeout(experiment: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    root = copy_workspace(experiment[0], tmp_path)
    use_raw_h264(root, ("cam0",))  # no timestamps: frames can only be counted by decoding
    base = {"ingestion.cache_video_probes": False}  # every probe decodes again
    default, short = changed("ingestion.video_decode_timeout_s", 1e-9, base)

    _, inputs = verified(root, default)
    cam0 = inputs.videos["cam0"]
    assert [chunk.method for chunk in cam0.chunks] == ["decode", "decode"]
    assert cam0.n_frames == experiment[1]["cameras"]["cam0"]["n_frames"]

    with pytest.raises(IngestError, match=r"cam0_chunk00\.h264.*longer than 1e-09 s") as info:
        verified(root, short)
    assert "ingestion.video_decode_timeout_s" in (info.value.hint or "")


@effect_of("ingestion.cache_video_probes")
def test_cache_video_probes(experiment: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    root = copy_workspace(experiment[0], tmp_path)
    cache = Workspace(root).cache / "video"
    cached, uncached = changed("ingestion.cache_video_probes", False, {})

    verified(root, uncached)
    assert not cache.exists()

    verified(root, cached)
    # one JSON (and one array of frame times) per probed video: 2 cameras x 2 chunks
    assert len(list(cache.glob("*.json"))) == 4
    assert len(list(cache.glob("*.npy"))) == 4


# --------------------------------------------------------------------------------------------
# assembly

CAM0_TIMES = "acquisition/cam0/timestamps"
CAM0_POSE = "processing/behavior/PoseEstimation_cam0/kp0/data"
TTL_TIMES = "acquisition/TTLEvents/timestamp"


def _dataset(nwb: Path, name: str) -> tuple[np.ndarray, dict[str, Any]]:
    with h5py.File(nwb, "r") as f:
        d = f[name]
        layout = {
            "chunks": d.chunks,
            "compression": d.compression,
            "compression_opts": d.compression_opts,
            "shuffle": d.shuffle,
        }
        return d[()], layout


@effect_of(
    "assembly.compression",
    "assembly.compression_level",
    "assembly.shuffle",
    "assembly.chunk_rows",
)
@pytest.mark.parametrize(
    ("key", "value", "layout_change"),
    [
        (
            "assembly.compression",
            "none",
            {"compression": None, "compression_opts": None, "shuffle": False},
        ),
        ("assembly.compression_level", 9, {"compression_opts": 9}),
        ("assembly.shuffle", False, {"shuffle": False}),
        ("assembly.chunk_rows", 1024, {}),
    ],
)
def test_dataset_layout_keys(
    experiment: tuple[Path, dict[str, Any]],
    reference: Run,
    keep: Path,
    key: str,
    value: Any,
    layout_change: dict[str, Any],
) -> None:
    _, config = changed(key, value)
    run = run_session(experiment[0], config, keep)
    assert run.result.ok, run.result.error
    for name in (CAM0_TIMES, CAM0_POSE, TTL_TIMES):
        ref_data, ref_layout = _dataset(reference.nwb, name)
        # defaults: gzip level 4 with shuffle, one chunk holding every row
        assert ref_layout == {
            "chunks": ref_data.shape,
            "compression": "gzip",
            "compression_opts": 4,
            "shuffle": True,
        }
        data, layout = _dataset(run.nwb, name)
        expected = {**ref_layout, **layout_change}
        if key == "assembly.chunk_rows":
            expected["chunks"] = (min(value, data.shape[0]), *data.shape[1:])
        assert layout == expected, name
        np.testing.assert_array_equal(data, ref_data)  # same values, another layout
    if key == "assembly.chunk_rows":
        assert _dataset(run.nwb, TTL_TIMES)[1]["chunks"] == (1024,)  # > 1024 TTL pulses
    if key == "assembly.compression":
        assert run.nwb.stat().st_size > reference.nwb.stat().st_size


WRITTEN_BY = {
    "write_videos": ("acquisition/cam0", "acquisition/cam1"),
    "write_pose": ("processing/behavior/PoseEstimation_cam0",),
    "write_ttl": ("acquisition/TTLEvents",),
    "write_bpod": ("intervals/trials", "acquisition/task_recording"),
}


def _written(nwb: Path) -> dict[str, bool]:
    with h5py.File(nwb, "r") as f:
        return {key: all(name in f for name in names) for key, names in WRITTEN_BY.items()}


@effect_of(
    "assembly.write_videos", "assembly.write_pose", "assembly.write_ttl", "assembly.write_bpod"
)
@pytest.mark.parametrize("key", list(WRITTEN_BY))
def test_write_switches(
    experiment: tuple[Path, dict[str, Any]], reference: Run, keep: Path, key: str
) -> None:
    _, config = changed(f"assembly.{key}", False)
    run = run_session(experiment[0], config, keep)
    assert run.result.ok, run.result.error
    assert _written(reference.nwb) == dict.fromkeys(WRITTEN_BY, True)
    assert _written(run.nwb) == {**dict.fromkeys(WRITTEN_BY, True), key: False}


# --------------------------------------------------------------------------------------------
# finalization

NO_SIDECARS = {"finalization.qc_report": False, "finalization.provenance": False}


def _validation(run: Run) -> dict[str, Any]:
    report: dict[str, Any] = json.loads((run.out / "validation.json").read_text())
    return report


@pytest.fixture(scope="module")
def future_session(experiment: tuple[Path, dict[str, Any]], keep: Path) -> tuple[Path, Run]:
    """A session dated in the future (a CRITICAL finding) and its run with default validation."""
    root = copy_workspace(experiment[0], keep / "future")
    session = root / RAW / "session.toml"
    text = session.read_text()
    assert text.count("session_start_time = 2024-") == 1
    session.write_text(text.replace("session_start_time = 2024-", "session_start_time = 2999-"))
    run = run_session(root, make_config(NO_SIDECARS), keep)
    assert run.result.failed_phase == "finalization" and run.result.exit_code == 6
    assert "check_session_start_time_future_date" in (run.result.error or "")
    assert _validation(run)["counts"]["CRITICAL"] == 1
    return root, run


@effect_of("finalization.validate_nwb")
def test_validate_nwb(future_session: tuple[Path, Run], keep: Path) -> None:
    root, _ = future_session
    _, unvalidated = changed("finalization.validate_nwb", False, NO_SIDECARS)
    run = run_session(root, unvalidated, keep)
    assert run.result.ok, run.result.error
    assert run.nwb.is_file() and not (run.out / "validation.json").exists()
    assert "validation" not in run.result.outputs


@effect_of("finalization.fail_on_critical")
def test_fail_on_critical(future_session: tuple[Path, Run], keep: Path) -> None:
    root, failed = future_session
    _, tolerant = changed("finalization.fail_on_critical", False, NO_SIDECARS)
    run = run_session(root, tolerant, keep)
    assert run.result.ok, run.result.error
    assert run.nwb.is_file()
    report = _validation(run)
    assert report["is_clean"] is False and report["exit_code"] == 1
    assert report["counts"] == _validation(failed)["counts"]
    assert "check_session_start_time_future_date" in {f["check_name"] for f in report["findings"]}


@effect_of("finalization.inspector_config")
def test_inspector_config(experiment: tuple[Path, dict[str, Any]], keep: Path) -> None:
    root = copy_workspace(experiment[0], keep / "slash")
    # DANDI makes a slash in session_id CRITICAL; nwbinspector's own level is a violation
    edit_toml(root / RAW / "session.toml", lambda s: s.update(session_id="ses/01"))
    dandi, default = changed("finalization.inspector_config", "default", NO_SIDECARS)

    run = run_session(root, dandi, keep)
    assert run.result.failed_phase == "finalization"
    assert "check_session_id_no_slashes" in (run.result.error or "")
    assert _validation(run)["config"] == "dandi"

    run = run_session(root, default, keep)
    assert run.result.ok, run.result.error
    report = _validation(run)
    assert report["config"] == "default" and report["is_clean"] is True
    levels = {f["check_name"]: f["importance"] for f in report["findings"]}
    assert levels["check_session_id_no_slashes"] == "BEST_PRACTICE_VIOLATION"


@effect_of("finalization.qc_report")
def test_qc_report(experiment: tuple[Path, dict[str, Any]], keep: Path) -> None:
    base = {"finalization.validate_nwb": False, "finalization.provenance": False}
    with_qc, without_qc = changed("finalization.qc_report", False, base)
    run = run_session(experiment[0], with_qc, keep)
    assert run.result.ok, run.result.error
    assert "<html" in (run.out / "qc/report.html").read_text()[:200].lower()

    run = run_session(experiment[0], without_qc, keep)
    assert run.result.ok, run.result.error
    assert not (run.out / "qc").exists() and "qc_report" not in run.result.outputs


PROVENANCE_BASE = {"finalization.validate_nwb": False, "finalization.qc_report": False}


@pytest.fixture(scope="module")
def provenance_reference(experiment: tuple[Path, dict[str, Any]], keep: Path) -> Run:
    run = run_session(experiment[0], make_config(PROVENANCE_BASE), keep)
    assert run.result.ok, run.result.error
    return run


def _input_hashes(run: Run) -> dict[str, str | None]:
    provenance = json.loads((run.out / "provenance.json").read_text())
    return {Path(f["path"]).name: f["sha256"] for f in provenance["inputs"]}


@effect_of("finalization.provenance")
def test_provenance(
    experiment: tuple[Path, dict[str, Any]], provenance_reference: Run, keep: Path
) -> None:
    assert (provenance_reference.out / "provenance.json").is_file()
    _, config = changed("finalization.provenance", False, PROVENANCE_BASE)
    run = run_session(experiment[0], config, keep)
    assert run.result.ok, run.result.error
    assert not (run.out / "provenance.json").exists()
    assert "provenance" not in run.result.outputs


@effect_of("finalization.checksum_inputs")
def test_checksum_inputs(
    experiment: tuple[Path, dict[str, Any]], provenance_reference: Run, keep: Path
) -> None:
    hashes = _input_hashes(provenance_reference)
    ttl = experiment[0] / RAW / "TTLs/cam0_frame.txt"
    assert hashes["cam0_frame.txt"] == sha256_file(ttl)
    assert len(hashes) > 10 and all(h is not None for h in hashes.values())

    _, config = changed("finalization.checksum_inputs", False, PROVENANCE_BASE)
    run = run_session(experiment[0], config, keep)
    assert run.result.ok, run.result.error
    assert _input_hashes(run) == dict.fromkeys(hashes)  # same inputs, no checksums


# --------------------------------------------------------------------------------------------
# execution

WARN_BASE = {**FAST, "verification.frame_pulse_policy": "warn"}


@pytest.fixture(scope="module")
def warn_log(lost_pulses: tuple[Path, dict[str, Any]], keep: Path) -> str:
    """pipeline.log at the default level of a run that logs a data-quality warning."""
    run = run_session(lost_pulses[0], make_config(WARN_BASE), keep)
    assert run.result.ok, run.result.error
    return (run.out / "pipeline.log").read_text()


def _levels(log: str) -> set[str]:
    # records start "2026-11-21 10:00:00,123 INFO w2t_bkin.session: ..."; hints continue them
    return set(re.findall(r"^\d{4}-\d\d-\d\d [\d:,]+ ([A-Z]+) ", log, flags=re.MULTILINE))


@effect_of("execution.log_level")
@pytest.mark.parametrize("level", ["DEBUG", "WARNING", "ERROR"])
def test_log_level(
    lost_pulses: tuple[Path, dict[str, Any]], warn_log: str, keep: Path, level: str
) -> None:
    assert _levels(warn_log) == {"INFO", "WARNING"}
    assert "phase synchronization: start" in warn_log and "data quality:" in warn_log

    _, config = changed("execution.log_level", level, WARN_BASE)
    run = run_session(lost_pulses[0], config, keep)
    assert run.result.ok, run.result.error
    log = (run.out / "pipeline.log").read_text()
    # the configuration phase logs before the level is known
    assert "phase configuration: end" in log
    if level == "DEBUG":
        assert _levels(log) == {"DEBUG", "INFO", "WARNING"}
        assert "phase synchronization: start" in log
    else:
        assert "phase synchronization: start" not in log
        assert ("data quality:" in log) == (level == "WARNING")


@effect_of("execution.helper_process")
def test_helper_process(
    experiment: tuple[Path, dict[str, Any]], keep: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from w2t_bkin.runtime import beside
    from w2t_bkin.session import finalize

    # a CPU to spare, whatever threads other tests left behind
    monkeypatch.setattr(beside.threading, "active_count", lambda: 1)
    monkeypatch.setattr(beside, "available_cpus", lambda: 2)
    monkeypatch.setattr(beside, "_cpus_shared", False)
    started: list[object] = []

    def spy(call: Any) -> Any:
        started.append(beside.start_beside(call))
        return started[-1]

    monkeypatch.setattr(finalize, "start_beside", spy)
    validate_and_report = {"finalization.validate_nwb": True, "finalization.qc_report": True}
    default, off = changed("execution.helper_process", False, validate_and_report)
    findings = []
    for config, n_children in ((default, 1), (off, 0)):
        started.clear()
        run = run_session(experiment[0], config, keep)
        assert run.result.ok, run.result.error
        assert len(started) == n_children and None not in started
        findings.append(json.loads((run.out / "validation.json").read_text())["findings"])
    assert findings[0] == findings[1]


@effect_of("execution.continue_on_error")
def test_continue_on_error(experiment: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    root = copy_workspace(experiment[0], tmp_path)
    (root / RAW / "Bpod").rename(root / RAW / "Bpod_moved")  # ses01 fails in discovery
    go_on, stop = changed("execution.continue_on_error", False)

    def statuses(config: Config) -> list[tuple[str, str]]:
        path = tmp_path / f"continue-{config.execution.continue_on_error}.toml"
        path.write_text(render_config_template(config))
        # --force: ses02 succeeded in the first batch and would otherwise be cached
        results = run_sessions(root, "*", "*", path, force=True)
        return [(r.session, r.status) for r in results]

    assert statuses(go_on) == [("ses01", "failed"), ("ses02", "succeeded")]
    assert statuses(stop) == [("ses01", "failed"), ("ses02", "skipped")]


def _batch_with(root: Path, tmp_path: Path, config: Config, **options: Any) -> Any:
    from w2t_bkin.batch import run_batch

    path = tmp_path / f"config-{next(_RUN_IDS)}.toml"
    path.write_text(render_config_template(config))
    events: list[Any] = []
    batch = run_batch(root, config_path=path, force=True, on_event=events.append, **options)
    return batch, events


@effect_of("execution.executor", "execution.jobs", "execution.scheduler")
def test_executor_jobs_and_scheduler_choose_where_sessions_run(
    experiment: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    import os

    from w2t_bkin.batch import SessionProgress

    root = copy_workspace(experiment[0], tmp_path)
    here = f"pid {os.getpid()}"

    def workers(config: Config) -> set[str]:
        batch, events = _batch_with(root, tmp_path, config)
        assert all(r.ok for r in batch.results), [r.error for r in batch.results]
        return {e.worker for e in events if isinstance(e, SessionProgress)}

    default, pool_config = changed("execution.jobs", 2)
    assert workers(default) == {here}  # local, one job: in this process
    pool = workers(pool_config)
    assert here not in pool and all(w.startswith("pid ") for w in pool)
    _, dask = changed("execution.executor", "dask")
    assert all(w.startswith("tcp://127.0.0.1:") for w in workers(dask))
    missing = str(tmp_path / "no-scheduler.json")
    _, remote = changed("execution.scheduler", missing, {**FAST, "execution.executor": "dask"})
    with pytest.raises(ConfigError, match=re.escape(missing)):
        _batch_with(root, tmp_path, remote)


@effect_of("execution.retries")
def test_retries_rerun_a_session_after_a_transient_io_error(
    experiment: tuple[Path, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    import w2t_bkin.session.verify as verify

    root = copy_workspace(experiment[0], tmp_path)
    real = verify.load_ttl_channel
    left = {"ttl_cue": 0}

    def flaky(*args: Any, **kwargs: Any) -> Any:  # EIO on one file, as a flaky network disk
        if args[0] == "ttl_cue" and left["ttl_cue"]:
            left["ttl_cue"] -= 1
            raise OSError(errno.EIO, "Input/output error", str(args[1][0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(verify, "load_ttl_channel", flaky)
    default, retried = changed("execution.retries", 1)
    for config, expected in ((default, "failed"), (retried, "succeeded")):
        left["ttl_cue"] = 2  # the preflight reads it first, then the first attempt
        batch, _ = _batch_with(root, tmp_path, config, session="ses01")
        assert [r.status for r in batch.results] == [expected]


@effect_of(
    "execution.slurm_jobs",
    "execution.slurm_queue",
    "execution.slurm_account",
    "execution.slurm_cores",
    "execution.slurm_memory",
    "execution.slurm_walltime",
)
def test_slurm_keys_shape_the_jobs_dask_jobqueue_submits() -> None:
    from w2t_bkin.batch import executor_plan, slurm_cluster

    default = Config().execution
    assert executor_plan("dask", 2, None, default) == "dask local cluster of 2 workers"
    slurm = changed("execution.slurm_jobs", 8)[1].execution
    assert executor_plan("dask", 2, None, slurm) == "dask workers in 8 SLURM jobs"
    assert executor_plan("dask", 2, "tcp://h:8786", slurm) == "dask scheduler tcp://h:8786"
    assert executor_plan("local", 1, None, slurm) == "this process"
    assert executor_plan("local", 3, None, slurm) == "3 local worker processes"
    settings = {
        "slurm_queue": ("short", "#SBATCH -p short"),
        "slurm_account": ("mylab", "#SBATCH -A mylab"),
        "slurm_cores": (6, "#SBATCH --cpus-per-task=6"),
        "slurm_memory": ("8GB", "#SBATCH --mem=8G"),
        "slurm_walltime": ("05:00:00", "#SBATCH -t 05:00:00"),
    }
    for key, (value, line) in settings.items():
        cluster = slurm_cluster(changed(f"execution.{key}", value)[1].execution)
        try:
            script = cluster.job_script().splitlines()
        finally:
            cluster.close()
        assert line in script, (key, script)
