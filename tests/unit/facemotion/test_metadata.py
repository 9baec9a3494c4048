"""``[facemotion.cameras.<id>]`` metadata: defaults, merge by ROI id, cross-references."""

from __future__ import annotations

import pydantic
import pytest

from w2t_bkin.metadata import SessionMetadata, merge_metadata

CAMERAS = {"cameras": [{"id": "face", "paths": ["Video/*.mp4"]}]}
LAB = {
    "facemotion": {
        "cameras": {
            "face": {
                "rois": [
                    {"id": "whisker", "x": 100, "y": 40, "width": 160, "height": 120},
                    {"id": "nose", "x": 300, "y": 60, "width": 60, "height": 60, "bin": 2},
                ]
            }
        }
    }
}


def test_session_overrides_one_roi_by_id_and_keeps_the_rest() -> None:
    session = {"facemotion": {"cameras": {"face": {"rois": [{"id": "whisker", "x": 108}]}}}}
    merged = SessionMetadata.model_validate(merge_metadata(merge_metadata(CAMERAS, LAB), session))
    camera = merged.facemotion.cameras["face"]
    whisker, nose = camera.rois
    assert (whisker.id, whisker.x, whisker.y, whisker.width, whisker.height) == (
        "whisker",
        108,
        40,
        160,
        120,
    )
    assert (whisker.bin, whisker.n_components, nose.bin) == (4, 100, 2)
    assert (camera.enabled, camera.fit_frames, camera.segment_frames) == (True, 4000, 500)


def test_unknown_camera_and_duplicate_roi_are_refused() -> None:
    bad = {
        "facemotion": {
            "cameras": {
                "side": {"rois": [{"id": "a"}]},
                "face": {"rois": [{"id": "a"}, {"id": "a", "x": 3}]},
            }
        }
    }
    with pytest.raises(pydantic.ValidationError) as caught:
        SessionMetadata.model_validate({**CAMERAS, **bad})
    text = str(caught.value)
    assert "facemotion.cameras.side: no [[cameras]] entry with id 'side'" in text
    assert "facemotion.cameras.face: duplicate ROI id 'a'" in text


@pytest.mark.parametrize(
    "roi", [{"id": "a", "x": -1}, {"id": "a", "width": 0}, {"id": "a", "bin": 0}, {"id": "a b"}]
)
def test_invalid_roi_values_are_refused(roi: dict[str, object]) -> None:
    with pytest.raises(pydantic.ValidationError):
        SessionMetadata.model_validate(
            {**CAMERAS, "facemotion": {"cameras": {"face": {"rois": [roi]}}}}
        )
