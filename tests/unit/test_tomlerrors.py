"""Locating keys in TOML text and suggesting the key that was meant."""

from __future__ import annotations

from pathlib import Path

import pytest

from w2t_bkin.config import load_config
from w2t_bkin.errors import ConfigError, MetadataError
from w2t_bkin.metadata import SessionMetadata, check_metadata_file
from w2t_bkin.tomlerrors import find_key_line, key_lines, read_toml, suggest_key

TEXT = """\
lab = "L"                       # 1
notes = '''
fps = 1
'''
[[cameras]]                     # 5
id = "top"
fps = 30.0
[[cameras]]                     # 8
id = "side"
fps = -1.0                      # 10
[bpod]
path = "Bpod/*.mat"
[[bpod.sync.trial_types]]       # 13
trial_type = 1
[[bpod.sync.trial_types]]       # 15
trial_type = 2
sync_ttl = "cue"
[pose.cameras.top]              # 18
source = "dlc"
"quoted key".inner = 1          # 20
"""


@pytest.mark.parametrize(
    ("loc", "line"),
    [
        (("cameras", 0, "fps"), 7),
        (("cameras", 1, "fps"), 10),  # the second table's key, not the first fps of the file
        (("cameras", 1), 8),
        (("cameras", 1, "ttl_id"), 8),  # a key the table lacks: its header
        (("bpod", "sync", "trial_types", 1, "sync_ttl"), 17),
        (("bpod", "sync", "trial_types", 0, "sync_ttl"), 13),
        (("pose", "cameras", "top", "source"), 19),
        (("pose", "cameras", "top", "quoted key", "inner"), 20),
        (("lab",), 1),
        (("notes",), 2),
        (("nothing", "here"), None),
    ],
)
def test_find_key_line_follows_tables(loc: tuple[str | int, ...], line: int | None) -> None:
    assert find_key_line(TEXT, loc) == line


def test_keys_inside_multiline_strings_are_not_keys() -> None:
    assert ("fps",) not in key_lines(TEXT)


@pytest.mark.parametrize(
    ("loc", "suggestion"),
    [
        (("pose", "cameras", "a", "sourse"), "source"),  # through a dict-keyed table
        (("cameras", 2, "fsp"), "fps"),
        (("bpod", "sync", "trial_types", 0, "trial_typ"), "trial_type"),
        (("subject", "spcies"), "species"),
        (("pose", "mappings", "m", "nose"), None),  # free-form table: any key is valid
    ],
)
def test_suggest_key(loc: tuple[str | int, ...], suggestion: str | None) -> None:
    assert suggest_key(SessionMetadata, loc) == suggestion


def test_read_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "session.toml"
    path.write_text('lab = "L"\nnotes = unquoted\n')
    with pytest.raises(MetadataError, match=r"invalid TOML: .*\(at line 2, column 9\)") as info:
        read_toml(path, MetadataError)
    assert info.value.path == path


# --------------------------------------------------------------------------------------------
# upstream w2t-bkin keys: named with their key here and `data migrate`, never a wrong guess

MIGRATE = "`w2t-bkin data migrate ROOT`"


def test_upstream_metadata_keys_name_their_new_key(tmp_path: Path) -> None:
    path = tmp_path / "session.toml"
    path.write_text(
        'slices = "none"\n'
        "[session]\n"
        'id = "s1"\n'
        "[bpod]\n"
        'path = "Bpod/*.mat"\n'
        "[[bpod.trial_types]]\n"
        "trial_type = 1\n"
        "[[cameras]]\n"
        'id = "top"\n'
        'paths = "Video/*.avi"\n'
        'manufacturer = "FLIR"\n'
    )
    assert sorted(check_metadata_file(path)[1]) == sorted(
        [
            f"{path}:1: slices: unknown key: 'slices' is an upstream w2t-bkin key with no "
            "counterpart here (this version writes no NWB 'slices' field; move the text into "
            f"notes if it matters); {MIGRATE} removes it and says why",
            f"{path}:2: session: unknown key: 'session' is an upstream w2t-bkin key: it is "
            f"'session_id', 'session_description', 'experimenter' and 'subject' here; {MIGRATE} "
            "converts it",
            f"{path}:6: bpod.trial_types: unknown key: 'bpod.trial_types' is an upstream "
            "w2t-bkin key: it is 'bpod.sync.trial_types' and 'bpod.trial_type_names' here; "
            f"{MIGRATE} converts it",
            f"{path}:11: cameras[0].manufacturer: unknown key: 'cameras[0].manufacturer' is an "
            "upstream w2t-bkin key with no counterpart here (describe the camera as a "
            f"[[devices]] entry and name it with device = '<name>'); {MIGRATE} removes it and "
            "says why",
        ]
    )


def test_upstream_configuration_keys_name_their_new_key(tmp_path: Path) -> None:
    path = tmp_path / "configuration.toml"
    path.write_text(
        '[acquisition]\nconcat_strategy = "ffconcat"\n'
        '[logging]\nlevel = "INFO"\n'
        "[synchronization]\ntolerance = 0.01\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert sorted(info.value.message.splitlines()) == [
        f"{path}:1: acquisition: unknown key: 'acquisition' is an upstream w2t-bkin key with no "
        "counterpart here (videos are never concatenated here: the chunks of a camera are "
        f"linked in order in one ImageSeries); {MIGRATE} removes it and says why",
        f"{path}:3: logging: unknown key: 'logging' is an upstream w2t-bkin key: it is "
        f"'execution.log_level' here; {MIGRATE} converts it",
        f"{path}:6: synchronization.tolerance: unknown key: 'synchronization.tolerance' is an "
        "upstream w2t-bkin key: it is 'synchronization.trial_match_tolerance_s' here; "
        f"{MIGRATE} converts it",
    ]


def test_other_unknown_keys_still_get_the_closest_key(tmp_path: Path) -> None:
    path = tmp_path / "session.toml"
    path.write_text('[subject]\nspcies = "Mus musculus"\n')
    assert check_metadata_file(path)[1] == [
        f"{path}:2: subject.spcies: unknown key (did you mean 'species'?)"
    ]
