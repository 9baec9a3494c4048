"""The frame and trial helpers that moved to submodules still import from their old module."""

from __future__ import annotations

import importlib

import pytest

from w2t_bkin.sync import frames, trials


@pytest.mark.parametrize("module", [frames, trials])
def test_moved_names_resolve_to_the_submodule_objects(module: object) -> None:
    moved: dict[str, str] = module._MOVED  # type: ignore[attr-defined]
    assert moved
    for name, where in moved.items():
        assert getattr(module, name) is getattr(importlib.import_module(where), name)


def test_old_import_paths_keep_working() -> None:
    from w2t_bkin.sync.frames import _place_chunks, _Slots, frame_times_from_rate
    from w2t_bkin.sync.trials import ClockRestart, _match, _Search, with_clock

    assert _place_chunks.__module__ == "w2t_bkin.sync.frame_pts"
    assert _Slots.__module__ == "w2t_bkin.sync.frame_grid"
    assert frame_times_from_rate.__module__ == "w2t_bkin.sync.frame_clock"
    assert ClockRestart.__module__ == "w2t_bkin.sync.trial_restarts"
    assert _match.__module__ == _Search.__module__ == "w2t_bkin.sync.trial_search"
    assert with_clock.__module__ == "w2t_bkin.sync.trials"


def test_unknown_names_still_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match=r"module 'w2t_bkin\.sync\.frames' has no attribute"):
        _ = frames.no_such_name  # type: ignore[attr-defined]
