"""Metadata globs: natural chunk order, and globs that leave the session folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from w2t_bkin.errors import DiscoveryError
from w2t_bkin.metadata import SessionMetadata
from w2t_bkin.workspace.discovery import find_session_files, require_session_files
from w2t_bkin.workspace.layout import natural_key, resolve_glob


def _chunks(session: Path, *names: str) -> Path:
    (session / "Video").mkdir(parents=True, exist_ok=True)
    for name in names:
        (session / "Video" / name).write_bytes(b"x")
    return session


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("name_asc", ["cam0_1.avi", "cam0_2.avi", "cam0_10.avi"]),
        ("name_desc", ["cam0_10.avi", "cam0_2.avi", "cam0_1.avi"]),
    ],
)
def test_chunks_are_in_natural_order(tmp_path: Path, order: str, expected: list[str]) -> None:
    session = _chunks(tmp_path, "cam0_10.avi", "cam0_1.avi", "cam0_2.avi")
    assert [p.name for p in resolve_glob(session, "Video/*.avi", order)] == expected


def test_natural_order_is_total_and_keeps_text_order() -> None:
    names = ["b_1", "a_10", "a_2", "a_02", "a", "a_1x", "A_3"]
    assert sorted(names, key=natural_key) == ["A_3", "a", "a_1x", "a_02", "a_2", "a_10", "b_1"]


def test_several_globs_of_one_camera_are_ordered_together(tmp_path: Path) -> None:
    session = _chunks(tmp_path, "cam0_10.avi", "cam0_1.avi", "cam0_2.mp4")
    meta = SessionMetadata.model_validate(
        {"cameras": [{"id": "cam0", "paths": ["Video/*.avi", "Video/*.mp4"], "ttl_id": None}]}
    )
    files = find_session_files(session, meta)
    assert [p.name for p in files.cameras["cam0"]] == ["cam0_1.avi", "cam0_2.mp4", "cam0_10.avi"]


def test_a_glob_leaving_the_session_is_one_problem_among_others(tmp_path: Path) -> None:
    session = _chunks(tmp_path / "s1", "cam0_1.avi")
    meta = SessionMetadata.model_validate(
        {
            "cameras": [{"id": "cam0", "paths": ["../*.avi", "Video/*.avi"]}],
            "TTLs": [{"id": "ttl", "paths": ["/abs/*.txt"]}],
        }
    )
    files = find_session_files(session, meta)
    assert [p.name for p in files.cameras["cam0"]] == ["cam0_1.avi"]
    assert files.problems == (
        f"camera 'cam0': glob '../*.avi' leaves the session folder {session} (metadata paths "
        "are globs relative to the session folder (no '..', not absolute))",
        f"TTL 'ttl': glob '/abs/*.txt' leaves the session folder {session} (metadata paths "
        "are globs relative to the session folder (no '..', not absolute))",
        f"TTL 'ttl': paths ['/abs/*.txt'] match no file in {session}",
    )
    with pytest.raises(DiscoveryError, match="declared files are missing or their globs are"):
        require_session_files(session, meta)
