"""`data migrate` planning and writing, on upstream files written from the reference document."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from w2t_bkin.config import load_config
from w2t_bkin.errors import AlreadyExistsError, MetadataError, WorkspaceError
from w2t_bkin.metadata import check_metadata_file
from w2t_bkin.upstream_keys import (
    CONFIG_002,
    CONFIG_DOCUMENTED,
    CONFIG_SESSIONCONFIG,
    CONFIG_STANDARD,
    CONFIG_TEMPLATE,
    META_014,
    META_DICT_TRIAL_TYPES,
    META_LEGACY_SESSION,
    UPSTREAM_KEYS,
    render_key_table,
)
from w2t_bkin.workspace.migrate import (
    CURRENT_GENERATION,
    FileMigration,
    MigrationRow,
    apply_migration,
    find_migration_files,
    plan_file,
    plan_migration,
)

from . import _upstream_files as upstream

REPO = Path(__file__).resolve().parents[3]


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def row(plan: FileMigration, old_key: str) -> MigrationRow:
    (found,) = [item for item in plan.rows if item.old_key == old_key]
    return found


def fields(item: MigrationRow) -> tuple[str, str | None, object, object, str]:
    return (item.old_key, item.new_key, item.old_value, item.new_value, item.action)


def changed_rows(plan: FileMigration) -> list[tuple[str, str | None, object, object, str]]:
    return [
        (r.old_key, r.new_key, r.old_value, r.new_value, r.action)
        for r in plan.rows
        if r.action != "kept"
    ]


@pytest.mark.parametrize(
    ("text", "name", "generation"),
    [
        (upstream.CONFIG_SESSIONCONFIG, "configuration.toml", CONFIG_SESSIONCONFIG),
        (upstream.CONFIG_TEMPLATE, "configuration.toml", CONFIG_TEMPLATE),
        (upstream.CONFIG_DOCUMENTED, "configuration.toml", CONFIG_DOCUMENTED),
        (upstream.CONFIG_STANDARD, "standard.toml", CONFIG_STANDARD),
        (upstream.CONFIG_002, "configuration.toml", CONFIG_002),
    ],
)
def test_every_configuration_generation_converts_to_a_valid_config(
    tmp_path: Path, text: str, name: str, generation: str
) -> None:
    path = write(tmp_path, name, text)
    plan = plan_file(path)
    assert (plan.kind, plan.generation, plan.problems) == ("configuration", generation, ())
    # every key of the file has a row; every dropped key says why
    leaves = sum(1 for r in plan.rows)
    assert leaves == _count_leaves(tomllib.loads(text))
    assert all(r.reason for r in plan.rows if r.action == "dropped")
    apply_migration(plan_migration([path]))
    load_config(path)  # validates, or raises


def _count_leaves(node: object) -> int:
    if isinstance(node, dict) and node:
        return sum(_count_leaves(value) for value in node.values())
    if isinstance(node, list) and node and all(isinstance(item, dict) for item in node):
        return sum(_count_leaves(item) for item in node)
    return 1


def test_sessionconfig_values_convert_exactly(tmp_path: Path) -> None:
    path = write(tmp_path, "configuration.toml", upstream.CONFIG_SESSIONCONFIG)
    plan = plan_file(path)
    assert row(plan, "logging.level") == MigrationRow(
        "logging.level",
        "execution.log_level",
        "CRITICAL",
        "ERROR",
        "converted",
        "same levels; CRITICAL becomes ERROR, the highest level here",
    )
    assert row(plan, "ingestion.video.mismatch_warn_only").new_value == "warn"
    assert row(plan, "synchronization.robust_min_matches").new_value == 2
    assert row(plan, "finalization.skip_validation").new_value is False
    # 'skip' in assembly.behavior.mode wins over enable_loading = true
    assert row(plan, "assembly.behavior.mode").new_value is False
    assert row(plan, "ingestion.pose.enable_loading").action == "moved"
    assert row(plan, "artifacts.mode").action == "dropped"
    apply_migration(plan_migration([path]))
    config = load_config(path)
    assert config.execution.log_level == "ERROR"
    assert config.verification.frame_pulse_policy == "warn"
    assert config.synchronization.trial_match_tolerance_s == 0.01
    assert config.synchronization.min_matched_trials == 2
    assert (config.assembly.write_ttl, config.assembly.write_bpod) == (True, False)
    assert (config.assembly.write_videos, config.assembly.write_pose) == (True, False)
    assert config.finalization.validate_nwb is False


def test_template_config_exact_rows(tmp_path: Path) -> None:
    plan = plan_file(write(tmp_path, "configuration.toml", upstream.CONFIG_TEMPLATE))
    rows = changed_rows(plan)
    assert (
        "synchronization.alignment.tolerance_s",
        "synchronization.trial_match_tolerance_s",
        0.002,
        0.002,
        "moved",
    ) in rows
    assert (
        "video.analysis.frame_count_timeout",
        "ingestion.video_decode_timeout_s",
        30,
        30.0,
        "converted",
    ) in rows
    assert ("bpod.pattern", None, "Bpod/*.mat", None, "dropped") in rows
    assert row(plan, "bpod.pattern").reason == (
        "Bpod file globs are metadata here: [bpod] path in data/raw/metadata.toml or session.toml"
    )
    assert ("acquisition.concat_strategy", None, "ffconcat", None, "dropped") in rows
    assert (
        "verification.warn_on_mismatch",
        "verification.frame_pulse_policy",
        False,
        "fail",
        "converted",
    ) in rows


def test_config_trial_type_rules_are_dropped_with_where_they_go(tmp_path: Path) -> None:
    plan = plan_file(write(tmp_path, "configuration.toml", upstream.CONFIG_DOCUMENTED))
    dropped = row(plan, "bpod.sync.trial_types[0].sync_signal")
    assert (dropped.action, dropped.old_value) == ("dropped", "W2T_Audio")
    assert "[[bpod.sync.trial_types]] in data/raw/metadata.toml" in dropped.reason


def test_legacy_session_exact_plan_and_valid_result(tmp_path: Path) -> None:
    path = write(tmp_path / "data/raw/m1/s1", "session.toml", upstream.SESSION_LEGACY)
    plan = plan_file(path)
    assert (plan.kind, plan.generation, plan.problems) == (
        "session metadata",
        META_LEGACY_SESSION,
        (),
    )
    assert changed_rows(plan)[:8] == [
        ("session.id", "session_id", "Session-000001", "Session-000001", "moved"),
        ("session.subject_id", "subject.subject_id", "mouse_001", "mouse_001", "moved"),
        ("session.date", None, "2025-01-01", None, "dropped"),
        ("session.experimenter", "experimenter", "Borja Esteban", ["Borja Esteban"], "converted"),
        ("session.description", None, "Test session", None, "dropped"),
        ("session.sex", "subject.sex", "M", "M", "moved"),
        ("session.age", None, "P60", None, "dropped"),
        ("session.genotype", "subject.genotype", "WT", "WT", "moved"),
    ]
    assert row(plan, "session.description").reason == (
        "session_description is set already ('Test session for integration tests') and wins"
    )
    assert row(plan, "session.age").reason == (
        "'P60' is not an ISO-8601 duration; set subject.age yourself, e.g. 'P60D' if it counts days"
    )
    assert row(plan, "bpod.trial_types[1].description") == MigrationRow(
        "bpod.trial_types[1].description",
        "bpod.trial_type_names.3",
        "Microstim trials",
        "Microstim trials",
        "moved",
        "the description names the trial type in the NWB trials table",
    )
    assert row(plan, "bpod.trial_types[1].sync_ttl").new_key == "bpod.sync.trial_types[1].sync_ttl"
    apply_migration(plan_migration([path]))
    data = tomllib.loads(path.read_text())
    assert data["bpod"]["sync"]["trial_types"] == [
        {"trial_type": 1, "sync_signal": "W2T_Audio", "sync_ttl": "ttl_cue"},
        {"trial_type": 3, "sync_signal": "Microstim", "sync_ttl": "ttl_cue"},
    ]
    assert data["bpod"]["trial_type_names"] == {
        "1": "Active whisker touch trials",
        "3": "Microstim trials",
    }
    assert data["bpod"]["path"] == ["Bpod/*.mat"] and "continuous_time" not in data["bpod"]
    assert data["subject"] == {"subject_id": "mouse_001", "sex": "M", "genotype": "WT"}
    assert (data["session_id"], data["experimenter"]) == ("Session-000001", ["Borja Esteban"])
    assert "session" not in data
    assert check_metadata_file(path)[1] == []


def test_full_metadata_dict_trial_types_devices_and_orders(tmp_path: Path) -> None:
    path = write(tmp_path / "data/raw", "metadata.toml", upstream.METADATA_FULL)
    plan = plan_file(path)
    assert (plan.kind, plan.generation, plan.problems) == (
        "experiment metadata",
        META_DICT_TRIAL_TYPES,
        (),
    )
    assert row(plan, "bpod.sync.trial_types.2") == MigrationRow(
        "bpod.sync.trial_types.2",
        "bpod.sync.trial_types[1].trial_type",
        "2",
        2,
        "converted",
        'the list form is kept; the table form [bpod.sync.trial_types."<n>"] becomes one '
        "[[bpod.sync.trial_types]] entry with trial_type = <n>",
    )
    assert fields(row(plan, "cameras[0].order")) == (
        "cameras[0].order",
        "cameras[0].order",
        "time_desc",
        "name_desc",
        "converted",
    )
    assert fields(row(plan, "bpod.order")) == (
        "bpod.order",
        "bpod.order",
        "time_asc",
        "name_asc",
        "converted",
    )
    assert fields(row(plan, "devices[0].model.model_name")) == (
        "devices[0].model.model_name",
        "devices[0].model_name",
        "Blackfly S",
        "Blackfly S",
        "moved",
    )
    assert row(plan, "cameras[0].manufacturer").action == "dropped"
    assert row(plan, "slices").action == "dropped"
    assert row(plan, "timestamps_reference_time").action == "dropped"
    assert row(plan, "TTLs[1].paths").action == "kept"  # already a list
    apply_migration(plan_migration([path]))
    data = tomllib.loads(path.read_text())
    assert data["devices"] == [
        {
            "name": "camera_0",
            "serial_number": "19283746",
            "model_name": "Blackfly S",
            "manufacturer": "FLIR",
        }
    ]
    assert data["bpod"]["sync"]["trial_types"][0] == {
        "trial_type": 1,
        "sync_signal": "W2T_Audio",
        "sync_ttl": "ttl_cue",
    }
    assert data["cameras"][0]["paths"] == ["Video/cam0_*.avi"]
    assert data["pose"]["cameras"]["camera_0"] == {"source": "dlc", "model_id": "dlc_top"}
    assert check_metadata_file(path)[1] == []


def test_generate_mode_pose_is_reported_never_silently_dropped(tmp_path: Path) -> None:
    plan = plan_file(write(tmp_path / "data/raw", "metadata.toml", upstream.METADATA_FULL))
    reported = row(plan, "pose.cameras.camera_0")
    assert (reported.action, reported.new_key) == ("kept", "pose.cameras.camera_0")
    assert reported.reason == (
        "no paths (upstream generate mode): pose is generated only when the camera's model "
        "names a backend; otherwise declare the existing outputs with paths"
    )
    (note,) = [n for n in plan.notes if n.startswith("pose.cameras.camera_0")]
    assert 'paths = ["Pose/camera_0/*.h5"]' in note
    assert '[pose.models.<model_id>] backend = "deeplabcut"' in note
    artifacts = row(plan, "pose.cameras.camera_0.artifacts")
    assert (artifacts.action, artifacts.old_value) == ("dropped", "dlc-pose")


def test_data_init_metadata_drops_processing_modules_with_reason(tmp_path: Path) -> None:
    path = write(tmp_path / "data/raw", "metadata.toml", upstream.METADATA_DATA_INIT)
    plan = plan_file(path)
    assert plan.generation == META_014
    assert [r.old_key for r in plan.rows if r.action == "dropped"] == [
        "processing_modules[0].name",
        "processing_modules[0].description",
        "processing_modules[1].name",
        "processing_modules[1].description",
    ]
    assert {r.reason for r in plan.rows if r.action == "dropped"} == {
        "accepted and ignored upstream; this version does not write it"
    }
    apply_migration(plan_migration([path]))
    assert check_metadata_file(path)[1] == []
    assert tomllib.loads(path.read_text())["keywords"] == [
        "behavior",
        "pose tracking",
        "synchronization",
    ]


@pytest.mark.parametrize(
    ("name", "text", "kind"),
    [
        ("subject.toml", upstream.SUBJECT_ADD_SUBJECT, "subject metadata"),
        ("session.toml", upstream.SESSION_ADD_SESSION, "session metadata"),
    ],
)
def test_files_already_valid_here_are_left_alone(
    tmp_path: Path, name: str, text: str, kind: str
) -> None:
    path = write(tmp_path, name, text)
    plan = plan_migration([path])
    (item,) = plan.files
    assert (item.kind, item.generation, item.changed, item.problems) == (
        kind,
        CURRENT_GENERATION,
        False,
        (),
    )
    assert apply_migration(plan) == ()
    assert path.read_text() == text
    assert not item.backup_path.exists()


def _upstream_workspace(root: Path) -> dict[Path, str]:
    files = {
        root / "configuration.toml": upstream.CONFIG_TEMPLATE,
        root / "data/raw/metadata.toml": upstream.METADATA_DATA_INIT,
        root / "data/raw/m1/subject.toml": upstream.SUBJECT_ADD_SUBJECT,
        root / "data/raw/m1/s1/session.toml": upstream.SESSION_LEGACY,
    }
    for path, text in files.items():
        write(path.parent, path.name, text)
    return files


def test_a_dry_run_writes_nothing(tmp_path: Path) -> None:
    files = _upstream_workspace(tmp_path)
    before = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    plan = plan_migration(find_migration_files([tmp_path]))
    assert [item.path for item in plan.files] == list(files)
    assert [item.path for item in plan.to_write] == [
        tmp_path / "configuration.toml",
        tmp_path / "data/raw/metadata.toml",
        tmp_path / "data/raw/m1/s1/session.toml",
    ]
    after = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    assert after == before


def test_write_keeps_backups_and_refuses_to_clobber_them(tmp_path: Path) -> None:
    files = _upstream_workspace(tmp_path)
    written = apply_migration(plan_migration(find_migration_files([tmp_path])))
    assert [(w.path, w.backup, w.problems) for w in written] == [
        (path, path.with_name(path.name + ".upstream.bak"), ())
        for path in files
        if path.name != "subject.toml"
    ]
    for item in written:
        assert item.backup.read_text() == files[item.path]
    # the migrated files are read by our loaders
    load_config(tmp_path / "configuration.toml")
    # a second migration has nothing to do
    assert plan_migration(find_migration_files([tmp_path])).to_write == ()
    # an upstream file again, with its backup still there: refused, nothing written
    session = tmp_path / "data/raw/m1/s1/session.toml"
    session.write_text(upstream.SESSION_LEGACY)
    with pytest.raises(AlreadyExistsError) as info:
        apply_migration(plan_migration([session]))
    backup = session.with_name("session.toml.upstream.bak")
    assert info.value.message == (
        f"backup {backup} exists already (an earlier migration kept it); nothing was written"
    )
    assert info.value.hint == (
        "move the backup somewhere safe, or delete it once you have checked the file it kept, "
        "then rerun with --write"
    )
    assert session.read_text() == upstream.SESSION_LEGACY


def test_a_file_that_cannot_be_migrated_blocks_every_write(tmp_path: Path) -> None:
    good = write(tmp_path / "a", "configuration.toml", upstream.CONFIG_TEMPLATE)
    bad = write(
        tmp_path / "b",
        "session.toml",
        '[[bpod.trial_types]]\ndescription = "no number"\n\n[subject]\nspcies = "Mus musculus"\n',
    )
    plan = plan_migration([good, bad])
    (blocked,) = plan.blocked
    assert blocked.problems == (
        f"{bad}: bpod.trial_types[0]: no integer trial_type; add it (e.g. trial_type = 1), "
        "then rerun",
        f"{bad}:5: subject.spcies: unknown key (did you mean 'species'?)",
    )
    with pytest.raises(MetadataError) as info:
        apply_migration(plan)
    assert info.value.exit_code == 2
    assert info.value.message.startswith("cannot migrate 1 file(s); nothing was written:\n  ")
    assert good.read_text() == upstream.CONFIG_TEMPLATE
    assert not good.with_name("configuration.toml.upstream.bak").exists()


def test_missing_target_and_empty_folder_are_named(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError) as info:
        find_migration_files([tmp_path / "nowhere"])
    assert (info.value.message, info.value.exit_code) == (f"not found: {tmp_path / 'nowhere'}", 3)
    with pytest.raises(WorkspaceError) as info:
        find_migration_files([tmp_path])
    assert info.value.message == (
        f"no configuration.toml, metadata.toml, subject.toml or session.toml under {tmp_path}"
    )


def test_every_key_table_entry_has_a_reason_and_unique_key() -> None:
    keys = [(entry.schema, entry.key) for entry in UPSTREAM_KEYS]
    assert len(keys) == len(set(keys))
    assert all(entry.reason and entry.generations for entry in UPSTREAM_KEYS)


def test_docs_tables_are_generated_from_the_key_table() -> None:
    text = (REPO / "docs/migration.md").read_text()
    assert render_key_table("configuration") in text
    assert render_key_table("metadata") in text
