"""configuration.toml schema: template round trip, unknown keys, TOML errors, hashing."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from w2t_bkin.config import (
    Config,
    config_json_schema,
    load_config,
    load_workspace_config,
    render_config_template,
)
from w2t_bkin.errors import ConfigError


def test_template_validates_and_equals_defaults() -> None:
    text = render_config_template()
    assert Config.model_validate(tomllib.loads(text)) == Config()


def test_template_of_custom_config_round_trips() -> None:
    custom = Config.model_validate(
        {"synchronization": {"trial_match_tolerance_s": 0.002, "clock_model": "piecewise"}}
    )
    assert Config.model_validate(tomllib.loads(render_config_template(custom))) == custom


def test_every_section_key_is_documented_in_schema() -> None:
    schema = config_json_schema()
    for section in ("verification", "synchronization", "ingestion", "assembly", "finalization"):
        ref = schema["properties"][section]["$ref"].split("/")[-1]
        props = schema["$defs"][ref]["properties"]
        assert props and all(prop.get("description") for prop in props.values())


def test_unknown_key_names_line_and_suggestion(tmp_path: Path) -> None:
    path = tmp_path / "configuration.toml"
    path.write_text("schema_version = 1\n\n[synchronization]\ntrial_match_tolerance = 0.01\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert f"{path}:4" in message
    assert "synchronization.trial_match_tolerance: unknown key" in message
    assert "did you mean 'trial_match_tolerance_s'" in message
    assert info.value.exit_code == 2


def test_invalid_toml_reports_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "configuration.toml"
    path.write_text("[verification]\nframe_pulse_policy = repair\n")
    with pytest.raises(ConfigError, match=r"invalid TOML: .*line 2, column 22"):
        load_config(path)


def test_wrong_value_names_key_and_found_value(tmp_path: Path) -> None:
    path = tmp_path / "configuration.toml"
    path.write_text('[verification]\nframe_pulse_policy = "ignore"\n')
    with pytest.raises(ConfigError, match=r":2: verification.frame_pulse_policy: .*'ignore'"):
        load_config(path)


def test_wrong_schema_version_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "configuration.toml"
    path.write_text("schema_version = 7\n")
    with pytest.raises(ConfigError, match="schema_version"):
        load_config(path)


def test_missing_workspace_config_gives_defaults_but_missing_override_fails(tmp_path: Path) -> None:
    assert load_workspace_config(tmp_path) == Config()
    with pytest.raises(ConfigError, match="not found"):
        load_workspace_config(tmp_path, tmp_path / "other.toml")


def test_config_hash_is_stable_and_sensitive() -> None:
    # stable across processes (no id(), set order or hash randomisation in it)
    other_process = subprocess.run(
        [sys.executable, "-c", "from w2t_bkin.config import Config; print(Config().config_hash())"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    ).stdout.strip()
    assert other_process == Config().config_hash()
    changed = Config.model_validate({"assembly": {"compression": "none"}})
    assert changed.config_hash() != Config().config_hash()
