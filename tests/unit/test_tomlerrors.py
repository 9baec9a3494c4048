"""Locating keys in TOML text and suggesting the key that was meant."""

from __future__ import annotations

from pathlib import Path

import pytest

from w2t_bkin.errors import MetadataError
from w2t_bkin.metadata import SessionMetadata
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
