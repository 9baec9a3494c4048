"""Dispatch parameters: one schema, one set of defaults, upstream keys, no silent override."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from w2t_bkin.ephys.errors import DispatchParamsError
from w2t_bkin.ephys.params import DEFAULT_EXCLUDE_STREAMS, DispatchParams, resolve_params


def _file(tmp_path: Path, content: object) -> Path:
    path = tmp_path / "params.json"
    path.write_text(json.dumps(content), encoding="utf-8")
    return path


def test_flag_and_file_paths_have_the_same_defaults(tmp_path: Path) -> None:
    from_flags = resolve_params({"input": "spikeglx"}).params
    from_file = resolve_params({}, _file(tmp_path, {"input": "spikeglx"})).params
    assert from_flags == from_file
    assert from_file.split_segments is True
    assert from_file.split_groups is True
    assert from_file.debug_duration_s == 30.0
    assert from_file.min_recording_duration_s == -1.0
    assert from_file.exclude_streams == DEFAULT_EXCLUDE_STREAMS


def test_params_file_does_not_silently_override_flags(tmp_path: Path) -> None:
    params_file = _file(tmp_path, {"input": "spikeglx", "debug": False, "debug_duration": 5})
    resolved = resolve_params({"debug": True, "debug_duration_s": 5.0}, params_file)
    assert resolved.params.debug is True  # the flag given explicitly wins
    assert [(c.key, c.file_value, c.flag_value) for c in resolved.conflicts] == [
        ("debug", False, True)
    ]  # the same value under two spellings (5 vs 5.0) is no conflict
    assert "'debug': the flag gives True, the params file False; using the flag" in (
        resolved.conflicts[0].describe()
    )
    assert resolved.sources["debug"] == "flag"
    assert resolved.sources["input"] == "file"


def test_params_file_keys_apply_when_no_flag_is_given(tmp_path: Path) -> None:
    params_file = _file(tmp_path, {"input": "openephys", "split_groups": False})
    resolved = resolve_params({"input": None, "split_groups": None}, params_file)
    assert resolved.params.input == "openephys"
    assert resolved.params.split_groups is False
    assert resolved.conflicts == ()


def test_upstream_key_names_are_accepted(tmp_path: Path) -> None:
    upstream = {
        "input": "nwb",
        "split_segments": False,
        "split_groups": False,
        "debug": True,
        "debug_duration": None,  # upstream's "not given"
        "skip_timestamps_check": True,
        "multi_session": True,
        "min_recording_duration": "60",  # upstream leaves it a string
        "nwb_files": "a.nwb, b.nwb",
    }
    params = resolve_params({}, _file(tmp_path, upstream)).params
    assert params.split_segments is False
    assert params.split_groups is False
    assert params.debug_duration_s == 30.0
    assert params.skip_timestamps_check is True
    assert params.min_recording_duration_s == 60.0
    assert params.nwb_files == ("a.nwb", "b.nwb")


def test_pipeline_no_split_keys_are_not_ignored(tmp_path: Path) -> None:
    # the pipeline turns --no-split-segments into the key no_split_segments (upstream ignores it)
    params_file = _file(tmp_path, {"input": "aind", "no_split_segments": True})
    params = resolve_params({}, params_file).params
    assert params.split_segments is False
    with pytest.raises(DispatchParamsError, match="set the same parameter 'split_groups'"):
        resolve_params(
            {}, _file(tmp_path, {"input": "aind", "no_split_groups": True, "split_groups": True})
        )


def test_unknown_key_names_the_closest(tmp_path: Path) -> None:
    with pytest.raises(DispatchParamsError) as info:
        resolve_params({}, _file(tmp_path, {"input": "nwb", "split_segment": True}))
    assert "unknown key 'split_segment'" in info.value.message
    assert info.value.hint is not None and "did you mean 'split_segments'?" in info.value.hint
    assert info.value.exit_code == 2


def test_wrong_value_names_key_source_and_value(tmp_path: Path) -> None:
    with pytest.raises(DispatchParamsError) as info:
        resolve_params({}, _file(tmp_path, {"input": "intan"}))
    message = info.value.message
    assert "input [--params" in message and "found 'intan'" in message
    with pytest.raises(DispatchParamsError, match=r"debug_duration_s \[flag\]"):
        resolve_params({"input": "nwb", "debug_duration_s": -1.0})


def test_missing_input_is_an_error() -> None:
    expected = r"input \[flags and params file\]: Field required"
    with pytest.raises(DispatchParamsError, match=expected):
        resolve_params({})


def test_invalid_json_params_file_names_line(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"input": "nwb",}', encoding="utf-8")
    with pytest.raises(DispatchParamsError, match="not valid JSON: line 1 column 17"):
        resolve_params({}, path)


def test_inline_json_params_are_accepted() -> None:
    assert resolve_params({}, '{"input": "spikeglx"}').params.input == "spikeglx"


def test_concatenate_implies_no_split_and_contradiction_is_refused() -> None:
    params = DispatchParams.model_validate({"input": "spikeglx", "concatenate": True})
    assert params.split_segments is False
    with pytest.raises(DispatchParamsError, match="contradicts split_segments"):
        resolve_params({"input": "spikeglx", "concatenate": True, "split_segments": True})


def test_spikeinterface_input_needs_reader_info() -> None:
    with pytest.raises(DispatchParamsError, match="needs spikeinterface_info"):
        resolve_params({"input": "spikeinterface"})
    info = '{"reader_type": "intan", "reader_kwargs": {"file_path": "x.rhd"}}'
    params = resolve_params({"input": "spikeinterface", "spikeinterface_info": info}).params
    assert params.spikeinterface_info is not None
    assert params.spikeinterface_info.kwargs_list() == [{"file_path": "x.rhd"}]
