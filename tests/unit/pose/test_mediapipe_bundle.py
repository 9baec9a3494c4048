"""Building the MediaPipe Pose Landmarker bundle offline from the mediapipe 0.10.21 wheel."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import pytest

from _skip import skip_or_fail
from w2t_bkin.pose.errors import PoseModelError
from w2t_bkin.pose.estimators.mediapipe_bundle import (
    build_pose_landmarker_bundle,
    default_bundle_path,
    find_source_wheel,
    models_cache_dir,
)


@pytest.fixture(scope="module")
def wheel() -> Path:
    found = find_source_wheel()
    if found is None or not found.is_file():
        skip_or_fail(
            "no mediapipe 0.10.21 wheel: run `make mediapipe-model` or set W2T_MEDIAPIPE_WHEEL"
        )
    return found


@pytest.mark.slow
def test_bundle_is_reproducible_aligned_and_licensed(wheel: Path, tmp_path: Path) -> None:
    first = build_pose_landmarker_bundle(wheel, tmp_path / "a" / "pose.task")
    second = build_pose_landmarker_bundle(wheel, tmp_path / "b" / "pose.task")
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        infos = archive.infolist()
        assert [i.filename for i in infos] == [
            "pose_detector.tflite",
            "pose_landmarks_detector.tflite",
        ]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in infos)
        raw = first.read_bytes()
        for info in infos:
            # local header: 30 bytes, then name and extra field; the data must start 4-aligned
            name_len, extra_len = struct.unpack(
                "<HH", raw[info.header_offset + 26 : info.header_offset + 30]
            )
            data_offset = info.header_offset + 30 + name_len + extra_len
            assert data_offset % 4 == 0
            # a TFLite flatbuffer carrying the TFLite identifier and our metadata
            model = archive.read(info)
            assert model[4:8] == b"TFL3"
            assert b"TFLITE_METADATA" in model and b"M001" in model
    licence = first.with_name("pose.task.LICENSE").read_text()
    assert "Apache License" in licence


def test_wheel_without_models_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "mediapipe-1.2.3-py3-none-any.whl"
    with zipfile.ZipFile(fake, "w") as archive:
        archive.writestr("mediapipe/__init__.py", "")
    with pytest.raises(
        PoseModelError, match="the wheel lacks mediapipe/modules/pose_detection"
    ) as caught:
        build_pose_landmarker_bundle(fake, tmp_path / "x.task")
    assert "pip download mediapipe==0.10.21" in str(caught.value.hint)
    (tmp_path / "broken.whl").write_text("not a zip")
    with pytest.raises(PoseModelError, match="cannot read the wheel as a zip file"):
        build_pose_landmarker_bundle(tmp_path / "broken.whl", tmp_path / "y.task")
    with pytest.raises(PoseModelError, match="mediapipe wheel not found"):
        build_pose_landmarker_bundle(tmp_path / "absent.whl", tmp_path / "z.task")
    assert not (tmp_path / "x.task").exists()


def test_cache_locations_follow_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("W2T_MEDIAPIPE_MODEL", raising=False)
    monkeypatch.delenv("W2T_MEDIAPIPE_WHEEL", raising=False)
    monkeypatch.setenv("W2T_MODELS_DIR", str(tmp_path / "models"))
    assert models_cache_dir() == tmp_path / "models"
    assert default_bundle_path() == tmp_path / "models" / "mediapipe" / "pose_landmarker_full.task"
    assert find_source_wheel() is None
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl").write_bytes(
        b""
    )
    assert (
        find_source_wheel()
        == tmp_path / "wheels" / "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl"
    )
    monkeypatch.delenv("W2T_MODELS_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert models_cache_dir() == tmp_path / "xdg" / "w2t-bkin" / "models"
