"""Metadata schema and hierarchical merge."""

from __future__ import annotations

from pathlib import Path

import pytest

from w2t_bkin.errors import MetadataError
from w2t_bkin.metadata import (
    SessionMetadata,
    load_session_metadata,
    merge_metadata,
    missing_dandi_fields,
)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def raw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("W2T_ROOT_METADATA", raising=False)
    raw = tmp_path / "data" / "raw"
    _write(
        raw / "metadata.toml",
        'lab = "L"\nexperimenter = ["A"]\n'
        '[[cameras]]\nid = "top"\npaths = ["Video/top/*.avi"]\nfps = 150.0\nttl_id = "ttl_cam"\n'
        '[[cameras]]\nid = "side"\npaths = "Video/side/*.avi"\nttl_id = "ttl_cam"\n'
        '[[TTLs]]\nid = "ttl_cam"\npaths = ["TTLs/*_cam.txt"]\n'
        '[[devices]]\nname = "bpod"\nmanufacturer = "Sanworks"\n',
    )
    _write(
        raw / "m1" / "subject.toml",
        '[subject]\nspecies = "Mus musculus"\nsex = "F"\nage = "P90D"\n',
    )
    _write(
        raw / "m1" / "s1" / "session.toml",
        'session_description = "d"\nsession_start_time = 2026-01-02T10:00:00Z\n'
        '[[cameras]]\nid = "top"\nfps = 100.0\n'
        '[[devices]]\nname = "bpod"\nserial_number = "B1"\n',
    )
    return raw


def test_merge_by_id_overrides_one_field_and_keeps_others(raw: Path) -> None:
    meta = load_session_metadata(raw, "m1", "s1")
    top = meta.camera("top")
    assert top.fps == 100.0 and top.paths == ["Video/top/*.avi"] and top.ttl_id == "ttl_cam"
    assert meta.camera("side").paths == ["Video/side/*.avi"]
    assert [c.id for c in meta.cameras] == ["top", "side"]
    assert meta.devices[0].manufacturer == "Sanworks" and meta.devices[0].serial_number == "B1"
    assert meta.subject.subject_id == "m1" and meta.session_id == "s1"
    assert meta.lab == "L" and meta.experimenter == ["A"]


def test_plain_arrays_replace() -> None:
    merged = merge_metadata({"keywords": ["a", "b"]}, {"keywords": ["c"]})
    assert merged == {"keywords": ["c"]}


def test_root_metadata_env_has_lowest_precedence(
    raw: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = _write(tmp_path / "root.toml", 'lab = "Env"\ninstitution = "I"\n')
    monkeypatch.setenv("W2T_ROOT_METADATA", str(env_file))
    meta = load_session_metadata(raw, "m1", "s1")
    assert meta.lab == "L" and meta.institution == "I"


def test_unknown_key_names_file_line_and_suggestion(raw: Path) -> None:
    path = raw / "m1" / "s1" / "session.toml"
    path.write_text('sesion_id = "x"\n' + path.read_text())
    with pytest.raises(MetadataError) as info:
        load_session_metadata(raw, "m1", "s1")
    assert f"{path}:1: sesion_id: unknown key (did you mean 'session_id'?)" in str(info.value)


def test_duplicate_camera_ids_in_one_file_are_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate cameras id 'a'"):
        SessionMetadata.model_validate(
            {"cameras": [{"id": "a", "paths": ["x"]}, {"id": "a", "paths": ["y"]}]}
        )


@pytest.mark.parametrize(
    "fmt", ["auto", "text", "csv", "npy", "spikeglx", "openephys", "bonsai", "nwb"]
)
def test_every_ttl_reader_format_is_accepted(fmt: str) -> None:
    meta = SessionMetadata.model_validate({"TTLs": [{"id": "cam", "paths": ["x"], "format": fmt}]})
    assert meta.TTLs[0].format == fmt


def test_cross_references_are_checked() -> None:
    with pytest.raises(ValueError, match="ttl_id 'nope' is not a \\[\\[TTLs\\]\\] id"):
        SessionMetadata.model_validate({"cameras": [{"id": "a", "paths": ["x"], "ttl_id": "nope"}]})
    with pytest.raises(ValueError, match="sync_ttl 'cue'"):
        SessionMetadata.model_validate(
            {
                "bpod": {
                    "path": "Bpod/*.mat",
                    "sync": {
                        "trial_types": [{"trial_type": 1, "sync_signal": "S", "sync_ttl": "cue"}]
                    },
                }
            }
        )


def test_invalid_age_sex_species() -> None:
    with pytest.raises(ValueError, match="ISO-8601 duration"):
        SessionMetadata.model_validate({"subject": {"age": "90 days"}})
    with pytest.raises(ValueError, match="sex"):
        SessionMetadata.model_validate({"subject": {"sex": "female"}})
    with pytest.raises(ValueError, match="Latin binomial"):
        SessionMetadata.model_validate({"subject": {"species": "mouse"}})


def test_skeleton_edges_must_name_nodes() -> None:
    with pytest.raises(ValueError, match="'tail'"):
        SessionMetadata.model_validate(
            {"pose": {"skeletons": {"s": {"nodes": ["nose"], "edges": [["nose", "tail"]]}}}}
        )


def test_rate_clock_needs_fps() -> None:
    with pytest.raises(ValueError, match="frame_clock = 'rate' needs fps"):
        SessionMetadata.model_validate(
            {"cameras": [{"id": "a", "paths": ["x"], "frame_clock": "rate"}]}
        )


def test_missing_dandi_fields() -> None:
    meta = SessionMetadata.model_validate({"subject": {"subject_id": "m1"}})
    assert missing_dandi_fields(meta) == [
        "subject.species",
        "subject.sex",
        "subject.age (or subject.date_of_birth)",
        "session_description",
    ]


def test_missing_session_toml(raw: Path) -> None:
    with pytest.raises(MetadataError, match="add-session"):
        load_session_metadata(raw, "m1", "s2")


def test_field_validator_error_names_file_and_line(raw: Path) -> None:
    path = raw / "m1" / "subject.toml"
    path.write_text('[subject]\nspecies = "Mus musculus"\nsex = "F"\nage = "90 days"\n')
    with pytest.raises(MetadataError) as info:
        load_session_metadata(raw, "m1", "s1")
    assert f"{path}:4: subject.age: Value error, age must be an ISO-8601 duration" in str(
        info.value
    )


def test_dangling_reference_in_one_file_is_resolved_by_another(raw: Path) -> None:
    # session.toml points a camera at a TTL id that only metadata.toml defines
    path = raw / "m1" / "s1" / "session.toml"
    path.write_text(path.read_text() + '[[cameras]]\nid = "side"\nttl_id = "ttl_cam"\n')
    assert load_session_metadata(raw, "m1", "s1").camera("side").ttl_id == "ttl_cam"


def test_error_in_second_camera_table_names_its_line(raw: Path) -> None:
    path = raw / "m1" / "s1" / "session.toml"
    path.write_text(path.read_text() + '[[cameras]]\nid = "side"\nfps = -1.0\n')
    line = len(path.read_text().splitlines())  # the last line, not the first fps (line 4)
    with pytest.raises(MetadataError) as info:
        load_session_metadata(raw, "m1", "s1")
    assert f"{path}:{line}: cameras[1].fps: Input should be greater than 0" in str(info.value)


def test_duplicate_camera_ids_name_file_and_line_of_the_repeat(raw: Path) -> None:
    path = raw / "m1" / "s1" / "session.toml"
    path.write_text(
        'session_description = "d"\n'
        '[[cameras]]\nid = "top"\n'  # id at line 3
        '[[cameras]]\nid = "side"\n'
        '[[cameras]]\nid = "top"\n'  # id at line 7
    )
    with pytest.raises(MetadataError) as info:
        load_session_metadata(raw, "m1", "s1")
    assert (
        f"{path}:7: cameras[2].id: duplicate cameras id 'top' (first at cameras[0], line 3); "
        "rename one or merge the two entries"
    ) in str(info.value)
    assert "(top level)" not in str(info.value)


def test_unknown_key_in_a_pose_camera_table_gets_a_suggestion(raw: Path) -> None:
    path = raw / "m1" / "s1" / "session.toml"
    path.write_text(path.read_text() + '[pose.cameras.top]\nsourse = "dlc"\n')
    line = len(path.read_text().splitlines())
    with pytest.raises(MetadataError) as info:
        load_session_metadata(raw, "m1", "s1")
    assert f"{path}:{line}: pose.cameras.top.sourse: unknown key (did you mean 'source'?)" in str(
        info.value
    )


@pytest.mark.parametrize("weight", ["25 g", "0.025 kg", "25g", "1.5 lb", ".5 KG"])
def test_weight_with_a_unit_is_accepted(weight: str) -> None:
    assert SessionMetadata.model_validate({"subject": {"weight": weight}}).subject.weight == weight


@pytest.mark.parametrize("weight", ["heavy", "25", "25 apples", "g 25", ""])
def test_weight_without_number_and_unit_is_rejected(weight: str) -> None:
    with pytest.raises(ValueError, match="weight must be a number and a unit of mass"):
        SessionMetadata.model_validate({"subject": {"weight": weight}})


@pytest.mark.parametrize(
    ("value", "shown"),
    [("2026-01-31", "2026-01-31T00:00:00"), ("2026-01-31T08:30:00", "2026-01-31T08:30:00")],
)
@pytest.mark.usefixtures("new_york")
def test_date_of_birth_without_utc_offset_is_refused_naming_file_and_line(
    raw: Path, value: str, shown: str
) -> None:
    # A naive value would take the processing machine's zone (-05:00 here), as
    # session_start_time would: both are refused instead of guessed.
    path = raw / "m1" / "subject.toml"
    path.write_text(f'[subject]\nspecies = "Mus musculus"\nsex = "F"\ndate_of_birth = {value}\n')
    with pytest.raises(MetadataError) as info:
        load_session_metadata(raw, "m1", "s1")
    assert (
        f"{path}:4: subject.date_of_birth: Value error, date_of_birth {shown} has no UTC offset; "
        "w2t-bkin does not guess the time zone (the processing machine's zone would make the "
        "file depend on where it was processed): write it with the lab's offset, e.g. "
        "date_of_birth = 2026-01-31T00:00:00+01:00"
    ) in str(info.value)


@pytest.mark.usefixtures("new_york")
def test_date_of_birth_keeps_the_offset_it_was_given(raw: Path) -> None:
    from datetime import datetime, timedelta, timezone

    path = raw / "m1" / "subject.toml"
    path.write_text('[subject]\nsex = "F"\ndate_of_birth = 2026-01-31T00:00:00+01:00\n')
    born = load_session_metadata(raw, "m1", "s1").subject.date_of_birth
    assert born == datetime(2026, 1, 31, tzinfo=timezone(timedelta(hours=1)))
    assert born is not None and born.utcoffset() == timedelta(hours=1)
