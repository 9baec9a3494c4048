"""Facial motion signals (the Facemap method): motion energy and motion SVD over video ROIs.

For each rectangular ROI of a camera (:class:`~w2t_bkin.facemotion.roi.ROI`, pixels of the
full frame, optionally binned), over the grey levels (luma) of every frame:

- **motion energy**: the mean absolute difference between the binned ROI of a frame and of
  the previous frame;
- **motion SVD**: a truncated SVD of that motion (absolute frame differences, centred on their
  mean), fitted on a subsample of segments of consecutive frames spread over the video, then
  the projection of every frame's motion on the components (Facemap's ``motSVD``; its
  ``motMask`` are the components).

:func:`~w2t_bkin.facemotion.compute.compute_camera_motion` streams a camera's video chunks with
PyAV in two passes (fit segments by seeking, then every frame) in memory bounded by a batch
and one fit segment, whatever the video length; no network, no GPU. The session pipeline
(:mod:`w2t_bkin.session.facemotion`) reads ROIs from ``[facemotion.cameras.<id>]`` metadata,
caches results under ``data/interim``, and :mod:`w2t_bkin.nwb.facemotion` writes them as
``BehavioralTimeSeries`` on the camera's synchronized frame times.

Names below load on first use, so importing this package does not import PyAV.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ROI": "w2t_bkin.facemotion.roi",
    "check_rois": "w2t_bkin.facemotion.roi",
    "MotionParams": "w2t_bkin.facemotion.compute",
    "compute_camera_motion": "w2t_bkin.facemotion.compute",
    "CameraMotion": "w2t_bkin.facemotion.result",
    "ROIMotion": "w2t_bkin.facemotion.result",
    "load_motion": "w2t_bkin.facemotion.result",
    "save_motion": "w2t_bkin.facemotion.result",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
