"""Atomic writes and streamed checksums."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from w2t_bkin import io_utils
from w2t_bkin.errors import IngestError, OutputError
from w2t_bkin.io_utils import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    drop_resident_pages,
    file_mapping_of,
    sha256_file,
    spill_array,
    to_jsonable,
)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_write_bytes_creates_parents_and_content(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "out.bin"
    assert atomic_write_bytes(target, b"\x00\x01abc") == target
    assert target.read_bytes() == b"\x00\x01abc"
    assert _leftovers(target.parent) == []


def test_write_text_replaces_and_keeps_mode(tmp_path: Path) -> None:
    target = tmp_path / "note.txt"
    target.write_text("old")
    target.chmod(0o640)
    atomic_write_text(target, "nouveau café\n")
    assert target.read_text(encoding="utf-8") == "nouveau café\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_new_file_gets_umask_permissions_not_private_temp_mode(tmp_path: Path) -> None:
    target = tmp_path / "new.txt"
    atomic_write_text(target, "x")
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask


def test_json_sorted_indented_numpy_and_nan(tmp_path: Path) -> None:
    target = tmp_path / "stats.json"
    obj = {
        "z": np.float32(1.5),
        "a": np.array([[1, 2], [3, 4]], dtype=np.int64),
        "nan": float("nan"),
        "arr": np.array([0.25, np.nan, np.inf]),
        "flag": np.bool_(True),
        "path": Path("/data/x.nwb"),
        "when": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        "count": np.int32(7),
        3: "int key",
    }
    atomic_write_json(target, obj)
    text = target.read_text()
    assert text.endswith("}\n")
    assert json.loads(text) == {
        "3": "int key",
        "a": [[1, 2], [3, 4]],
        "arr": [0.25, None, None],
        "count": 7,
        "flag": True,
        "nan": None,
        "path": "/data/x.nwb",
        "when": "2024-01-02T03:04:05+00:00",
        "z": 1.5,
    }
    # sorted keys and indent 2
    assert text.splitlines()[1] == '  "3": "int key",'
    assert text.index('"a"') < text.index('"z"')


def test_to_jsonable_rejects_unknown_objects() -> None:
    with pytest.raises(TypeError, match="object of type object"):
        to_jsonable({"x": object()})


def test_json_unserialisable_raises_output_error_and_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "bad.json"
    with pytest.raises(OutputError, match=r"bad\.json.*not JSON serialisable") as info:
        atomic_write_json(target, {"x": object()})
    assert info.value.exit_code == 6
    assert not target.exists()
    assert _leftovers(tmp_path) == []


def test_parent_is_a_file_raises_output_error(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("i am a file")
    with pytest.raises(OutputError, match=r"blocker.*out\.json") as info:
        atomic_write_json(blocker / "out.json", {"a": 1})
    assert info.value.hint is not None
    assert blocker.read_text() == "i am a file"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_folder_raises_output_error(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(OutputError, match=r"ro.*out\.txt"):
            atomic_write_text(folder / "out.txt", "x")
    finally:
        folder.chmod(0o700)
    assert list(folder.iterdir()) == []


def test_permission_denied_on_temp_file_raises_output_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a read-only folder does for a non-root user (root bypasses folder permissions).
    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(io_utils.tempfile, "mkstemp", denied)
    with pytest.raises(OutputError, match=r"cannot create a file in .* to write out\.txt"):
        atomic_write_text(tmp_path / "out.txt", "x")
    assert list(tmp_path.iterdir()) == []


def test_failed_replace_leaves_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "provenance.json"
    atomic_write_json(target, {"good": True})
    before = target.read_bytes()

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(io_utils.os, "replace", broken_replace)
    with pytest.raises(OutputError, match=r"provenance\.json: No space left on device"):
        atomic_write_json(target, {"good": False})
    assert target.read_bytes() == before
    assert _leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["provenance.json"]


@pytest.mark.parametrize("chunk_bytes", [1, 7, 4096, io_utils.DEFAULT_CHUNK_BYTES])
def test_sha256_matches_hashlib(tmp_path: Path, chunk_bytes: int) -> None:
    data = np.random.default_rng(0).integers(0, 256, 10_001, dtype=np.uint8).tobytes()
    target = tmp_path / "blob.bin"
    target.write_bytes(data)
    assert sha256_file(target, chunk_bytes=chunk_bytes) == hashlib.sha256(data).hexdigest()


def test_sha256_empty_file_and_symlink(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert sha256_file(empty) == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    real = tmp_path / "real.txt"
    real.write_bytes(b"abc")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    assert sha256_file(link) == hashlib.sha256(b"abc").hexdigest()


def test_sha256_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match=r"missing\.bin.*checksum"):
        sha256_file(tmp_path / "missing.bin")
    with pytest.raises(ValueError, match="chunk_bytes must be positive"):
        sha256_file(tmp_path / "missing.bin", chunk_bytes=0)


# --------------------------------------------------------------------------------------------
# spill_array / drop_resident_pages


def _rss_of_mapping_kib(array: np.ndarray) -> int:
    """Resident KiB of the mapping that holds ``array``'s first byte (/proc/self/smaps)."""
    address = array.__array_interface__["data"][0]
    lines = Path("/proc/self/smaps").read_text().splitlines()
    for k, line in enumerate(lines):
        head = line.split()[0]
        if "-" in head and all(c in "0123456789abcdef-" for c in head):
            start, stop = (int(x, 16) for x in head.split("-"))
            if start <= address < stop:
                for detail in lines[k + 1 :]:
                    if detail.startswith("Rss:"):
                        return int(detail.split()[1])
    raise AssertionError("mapping not found")


def test_spilled_array_is_an_equal_read_only_file_backed_copy(tmp_path: Path) -> None:
    values = np.random.default_rng(1).random((5000, 2, 7, 2), dtype=np.float32)
    values[3, 1, 4] = np.nan
    spilled = spill_array(values, tmp_path)
    assert spilled.dtype == values.dtype and spilled.shape == values.shape
    np.testing.assert_array_equal(spilled, values)
    assert not spilled.flags.writeable
    assert file_mapping_of(spilled[:, 1, 4, :]) is not None  # views keep the mapping
    assert list(tmp_path.iterdir()) == []  # the file has no name: nothing to clean up
    values[0] = 0.0  # a copy: later changes of the source do not show
    assert spilled[0, 0, 0, 0] != 0.0


def test_dropped_pages_leave_memory_and_come_back_from_disk(tmp_path: Path) -> None:
    if not Path("/proc/self/smaps").is_file():
        pytest.skip("no /proc/self/smaps on this platform")
    values = np.arange(4 << 20, dtype=np.float64)  # 32 MiB
    spilled = spill_array(values, tmp_path)
    assert float(spilled.sum()) == float(values.sum())  # every page read
    assert _rss_of_mapping_kib(spilled) >= 30 << 10
    assert drop_resident_pages(spilled[::3])
    assert _rss_of_mapping_kib(spilled) < 1 << 10
    np.testing.assert_array_equal(spilled, values)


def test_heap_and_empty_arrays_are_not_spilled_or_dropped(tmp_path: Path) -> None:
    empty = np.zeros((0, 3), dtype=np.float32)
    assert spill_array(empty, tmp_path) is empty
    heap = np.ones(10)
    assert file_mapping_of(heap) is None
    assert not drop_resident_pages(heap)


def test_unwritable_folder_keeps_the_array_in_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    values = np.ones(1000)
    missing = tmp_path / "no-such-folder"
    with caplog.at_level(logging.INFO, logger="w2t_bkin.io_utils"):
        assert spill_array(values, missing) is values
    assert f"cannot write it to {missing}" in caplog.text
