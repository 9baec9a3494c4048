"""Shared option parsing (``cli._options``): backend ``KEY=VALUE`` pairs and ``--format`` choices.

The same helper serves ``jobs watch -o`` and ``pose process|benchmark --option``; a malformed
value exits 2 (a usage error) with one message, from either command.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from w2t_bkin.cli import main
from w2t_bkin.cli._options import check_choice, parse_key_values
from w2t_bkin.errors import ConfigError


def test_values_that_parse_as_json_keep_their_type() -> None:
    options = parse_key_values(
        [
            "delay_s=0.01",
            " n = 3",
            "flag=true",
            "none=null",
            "device=cpu",
            "sizes=[1, 2]",
            "empty=",
            "expr=a=b",
        ],
        example="delay_s=0.01",
    )
    assert options == {
        "delay_s": 0.01,
        "n": 3,
        "flag": True,
        "none": None,
        "device": "cpu",
        "sizes": [1, 2],
        "empty": "",
        "expr": "a=b",  # only the first "=" splits
    }
    assert type(options["n"]) is int


@pytest.mark.parametrize("pair", ["novalue", "=3", "  =3"])
def test_a_pair_without_a_key_names_the_option_and_an_example(pair: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_key_values(["ok=1", pair], example="delay_s=0.01", option="-o")
    assert info.value.message == f"-o {pair!r} is not KEY=VALUE"
    assert info.value.hint == "write e.g. -o delay_s=0.01 (repeat -o for more options)"
    assert info.value.exit_code == 2


def test_a_key_given_twice_is_refused_with_both_values() -> None:
    with pytest.raises(ConfigError) as info:
        parse_key_values(["delay_s=0.01", "delay_s = 0.5"], example="delay_s=0.01")
    assert info.value.message == "--option 'delay_s' is given twice (0.01, then 0.5)"
    assert info.value.hint == "keep one --option delay_s=VALUE"


def test_check_choice_returns_the_value_or_names_the_choices() -> None:
    assert check_choice("json", ("table", "json")) == "json"
    with pytest.raises(ConfigError) as info:
        check_choice("xml", ("table", "json"))
    assert info.value.message == "--format must be table or json, found 'xml'"
    assert info.value.hint == "use --format table or --format json"
    assert info.value.exit_code == 2
    with pytest.raises(ConfigError) as info:
        check_choice("csv", ("json", "tsv", "plain"), option="-f")
    assert info.value.message == "-f must be json, tsv or plain, found 'csv'"
    assert info.value.hint == "use -f json, -f tsv or -f plain"
    with pytest.raises(ConfigError) as info:
        check_choice("slow", ("fast",), option="--mode")
    assert (info.value.message, info.value.hint) == (
        "--mode must be fast, found 'slow'",
        "use --mode fast",
    )


@pytest.mark.parametrize(
    ("argv", "example"),
    [
        (["jobs", "watch", "--once", "-o", "novalue"], "delay_s=0.01"),
        (["pose", "process", "absent.mp4", "-b", "synthetic", "--option", "novalue"], None),
        (["pose", "benchmark", "absent.mp4", "-b", "synthetic", "--option", "novalue"], None),
    ],
)
def test_jobs_and_pose_reject_a_malformed_option_alike(
    argv: list[str],
    example: str | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)  # jobs watch's data folder defaults to "."; nothing is created
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error: --option 'novalue' is not KEY=VALUE" in err
    example = example or "min_pose_detection_confidence=0.3"
    assert f"hint: write e.g. --option {example} (repeat --option for more options)" in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["jobs", "watch", "--once", "--executor", "slurm"],
            "--executor must be local or dask, found 'slurm'",
        ),
        (
            ["run", ".", "--executor", "slurm"],
            "--executor must be local or dask, found 'slurm'",
        ),
        (
            ["pose", "benchmark", "absent.mp4", "-b", "synthetic", "--format", "xml"],
            "--format must be table or json, found 'xml'",
        ),
        (["status", ".", "--format", "xml"], "--format must be table or json, found 'xml'"),
        (["discover", ".", "--format", "csv"], "--format must be json, tsv or plain, found 'csv'"),
        (
            ["server", "status", ".", "--format", "xml"],
            "--format must be text or json, found 'xml'",
        ),
        (["runs", "list", ".", "--format", "csv"], "--format must be table or json, found 'csv'"),
        (
            ["runs", "show", "r1", "--format", "Json"],
            "--format must be table or json, found 'Json'",
        ),
        (
            ["features", "status", "p.toml", "--format", "xml"],
            "--format must be table or json, found 'xml'",
        ),
        (
            ["features", "lineage", "kinematics", "0.1-3f2a", "--format", "xml"],
            "--format must be table or json, found 'xml'",
        ),
    ],
)
def test_a_value_outside_the_choices_exits_2(
    argv: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert f"error: {message}" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
