"""Optional extras: guarded imports, the error a missing one raises, and the packaging tables.

A missing package is simulated by ``sys.modules[name] = None``, which makes Python's own import
machinery raise ``ModuleNotFoundError`` for it, exactly as when it is not installed. The suite
itself runs with every extra installed (``make test`` installs ``.[test,all]``), so sleap-io is
imported outright: a missing extra fails here rather than skipping.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import sleap_io as sio

from w2t_bkin.cli import main
from w2t_bkin.errors import MissingExtraError
from w2t_bkin.extras import EXTRAS, require
from w2t_bkin.sources.pose.io import read_pose
from w2t_bkin.testing import ExperimentSpec, write_experiment

REPO_ROOT = Path(__file__).resolve().parents[2]
HINT = "install it with: pip install 'w2t-bkin[pose]'"


@pytest.fixture
def no_sleap_io(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sleap_io", None)


def test_require_returns_the_installed_module() -> None:
    assert require("sleap_io", "pose", "reading a SLEAP file") is sio
    assert require("sleap_io.io.main", "pose", "x") is sys.modules["sleap_io.io.main"]


@pytest.mark.usefixtures("no_sleap_io")
@pytest.mark.parametrize("module", ["sleap_io", "w2t_test_absent_pkg.sub"])
def test_require_names_purpose_module_and_extra_when_missing(module: str) -> None:
    with pytest.raises(MissingExtraError) as info:
        require(module, "pose", "reading SLEAP file a.slp")

    exc = info.value
    assert exc.message == (
        f"reading SLEAP file a.slp needs the optional dependency '{module}', which is not installed"
    )
    assert exc.hint == HINT
    assert exc.exit_code == 7
    assert isinstance(exc, ImportError) and exc.name == module and exc.extra == "pose"
    assert isinstance(exc.__cause__, ModuleNotFoundError)
    assert str(exc) == f"{exc.message}\n  hint: {HINT}"


def test_require_reports_an_installed_but_broken_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a real package whose own import fails: installed, but a dependency of it is absent
    package = tmp_path / "w2t_test_broken_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("import w2t_test_absent_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    with pytest.raises(MissingExtraError) as info:
        require("w2t_test_broken_pkg", "pose", "reading SLEAP file a.slp")

    exc = info.value
    assert exc.message == (
        "reading SLEAP file a.slp needs the optional dependency 'w2t_test_broken_pkg', which "
        "fails to import: No module named 'w2t_test_absent_dependency'"
    )
    assert exc.hint == "reinstall it with: pip install --force-reinstall 'w2t-bkin[pose]'"
    assert exc.exit_code == 7


def test_require_rejects_an_unknown_extra() -> None:
    known = r"\['analysis', 'dask', 'ephys', 'features', 'pose', 'prefect', 'web'\]"
    with pytest.raises(ValueError, match=rf"unknown extra 'spikes'; known: {known}"):
        require("json", "spikes", "x")


def test_missing_extra_error_without_purpose_keeps_its_old_call() -> None:
    exc = MissingExtraError("sleap_io", "pose")
    assert (
        exc.message == "w2t-bkin needs the optional dependency 'sleap_io', which is not installed"
    )
    assert exc.hint == HINT


def _slp_from_analysis(path: Path) -> Path:
    """The same single-track pose as a SLEAP ``.slp`` next to ``path``; ``path`` is removed."""
    pose = read_pose(path)
    names = list(pose.keypoint_names)
    skeleton = sio.Skeleton(names, edges=[(names[a], names[b]) for a, b in pose.skeleton_edges])
    track = sio.Track(pose.individual_names[0])
    video = sio.Video(filename=str(path.parent / "absent.mp4"), open_backend=False)
    frames = [
        sio.LabeledFrame(
            video=video,
            frame_idx=f,
            instances=[
                sio.PredictedInstance.from_numpy(
                    pose.positions[f, 0].astype(np.float64),
                    skeleton=skeleton,
                    point_scores=pose.confidence[f, 0].astype(np.float64),
                    score=1.0,
                    track=track,
                )
            ],
        )
        for f in range(pose.positions.shape[0])
    ]
    slp = path.with_name(path.name.replace(".analysis.h5", ".slp"))
    sio.save_slp(sio.Labels(frames, skeletons=[skeleton], tracks=[track], videos=[video]), slp)
    path.unlink()
    return slp


@pytest.fixture
def slp_workspace(tmp_path: Path) -> tuple[Path, Path]:
    """A synthetic workspace whose SLEAP camera (cam1) has a ``.slp`` pose file."""
    root = tmp_path / "exp"
    write_experiment(root, ExperimentSpec(duration_s=1.0, rate_hz=20.0, n_keypoints=2))
    (analysis,) = (root / "data/raw/mouse01/ses01/Pose/cam1").glob("*.analysis.h5")
    slp = _slp_from_analysis(analysis)
    metadata = root / "data/raw/metadata.toml"
    text = metadata.read_text()
    assert "Pose/cam1/*.analysis.h5" in text
    metadata.write_text(text.replace("Pose/cam1/*.analysis.h5", "Pose/cam1/*.slp"))
    return root, slp


def test_reading_slp_without_sleap_io_names_the_file(
    slp_workspace: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, slp = slp_workspace
    assert read_pose(slp).individual_names == ("track_0",)  # a valid file while installed
    monkeypatch.setitem(sys.modules, "sleap_io", None)

    with pytest.raises(MissingExtraError, match="pip install 'w2t-bkin\\[pose\\]'") as info:
        read_pose(slp)

    assert info.value.message == (
        f"reading SLEAP file {slp} needs the optional dependency 'sleap_io', which is not installed"
    )


def test_run_exits_7_with_the_fix_when_the_pose_extra_is_missing(
    slp_workspace: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root, slp = slp_workspace
    monkeypatch.setitem(sys.modules, "sleap_io", None)

    assert main(["run", str(root)]) == 7

    err = capsys.readouterr().err
    assert (
        f"failed mouse01/ses01 in phase ingestion: ingestion failed: reading SLEAP file {slp} "
        "needs the optional dependency 'sleap_io', which is not installed"
    ) in err
    assert f"hint: {HINT}" in err
    assert "Traceback" not in err
    assert not (root / "data/processed/mouse01/ses01/sub-mouse01_ses-ses01.nwb").exists()


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match, requirement
    return match.group(0)


def test_pyproject_extras_match_the_registry() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    optional = project["optional-dependencies"]
    assert set(optional) == {*EXTRAS, "all", "test"}
    for extra, distributions in EXTRAS.items():
        assert [_name(r) for r in optional[extra]] == list(distributions)
    every = {d for distributions in EXTRAS.values() for d in distributions}
    assert {_name(r) for r in optional["all"]} == every
    assert not every & {_name(r) for r in project["dependencies"]}, "extra also in core"
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert 'pip install --quiet -e ".[test,all]"' in makefile
