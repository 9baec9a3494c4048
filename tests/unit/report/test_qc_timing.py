"""QC timing sections: camera badges that agree with the findings, the frame-interval figure,
readable alignment statistics, tick labels that never overlap, and a failed run's first lines."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from w2t_bkin.model.stats import StreamStats
from w2t_bkin.report import qc_figures, qc_time_figures
from w2t_bkin.report.qc import QCInputs, render_qc_report
from w2t_bkin.report.qc_inputs import FrameCheck, FrameTimeline, TrialStates
from w2t_bkin.report.qc_sections import error_summary
from w2t_bkin.session.sidecars import _camera_qc_status
from w2t_bkin.sync.frames import align_frames


def _check(status: str, dropped: int = 0, missing: int = 0, spurious: int = 0) -> FrameCheck:
    return FrameCheck(
        camera_id="cam0",
        n_video_frames=100,
        n_pulses=100 - missing,
        n_matched=100 - missing,
        dropped_frames=np.arange(dropped, dtype=np.int64) * 10 + 5,
        n_spurious=spurious,
        n_missing=missing,
        status=status,
        frame_clock="ttl",
    )


def _badge(page: str, label: str) -> tuple[str, str]:
    summary = page.split('<section id="summary">')[1].split("</section>")[0]
    found = re.findall(
        r'<span class="badge (\w+)"><span class="label">(.*?)</span>(.*?)</span>', summary
    )
    return {lab: (css, text) for css, lab, text in found}[label]


@pytest.mark.parametrize(
    ("check", "badge"),
    [
        (_check("ok"), ("ok", "ok")),
        # a one-to-one alignment with camera drops once showed a green "ok"
        (_check("ok", dropped=6), ("warn", "6 dropped")),
        (_check("warn", dropped=6, missing=3), ("warn", "6 dropped, 3 lost pulses")),
        (_check("ok", missing=1, spurious=2), ("warn", "1 lost pulse, 2 spurious pulses")),
        (_check("no TTL"), ("na", "no TTL")),
    ],
)
def test_camera_badge_names_the_findings(check: FrameCheck, badge: tuple[str, str]) -> None:
    page = render_qc_report(QCInputs(subject="m1", session="s1", frame_checks=[check]))
    assert _badge(page, "camera cam0") == badge
    frames = page.split('<section id="frames">')[1].split("</section>")[0]
    assert f'<span class="badge {badge[0]}">' in frames  # the table's status cell agrees


def test_exact_alignment_with_camera_drops_is_a_warning() -> None:
    # 100 Hz trigger train; the camera skipped slot 50 (no pulse, no frame): one-to-one, 'exact'
    slots = np.delete(np.arange(100), 50)
    drop = align_frames(99, 1.0 + slots / 100.0, nominal_rate_hz=100.0)
    assert (drop.status, drop.dropped_frames.tolist()) == ("exact", [50])
    assert _camera_qc_status(drop) == "warn"
    clean = align_frames(100, 1.0 + np.arange(100) / 100.0, nominal_rate_hz=100.0)
    assert _camera_qc_status(clean) == "ok"


def test_frame_interval_figure_marks_every_drop_and_interpolation() -> None:
    period_s = 0.02
    slots = np.concatenate([np.arange(0, 30), np.arange(32, 60), np.arange(70, 100)])
    times_s = 5.0 + slots * period_s  # 2 dropped after frame 29; a file pause after frame 57
    timeline = FrameTimeline(
        camera_id="cam0",
        frame_times_s=times_s,
        dropped_after_frame_idx=np.array([29]),
        dropped_per_gap=np.array([2]),
        interpolated_frame_idx=np.array([0, 12, 40]),  # frame 0 has no interval before it
        chunk_starting_frame=np.array([0, 58]),
    )
    fig = qc_time_figures.frame_intervals_figure(timeline)
    ax = fig.axes[0]
    trace = ax.lines[0]
    np.testing.assert_allclose(trace.get_xdata(), times_s[1:])
    y = np.asarray(trace.get_ydata())
    assert np.isnan(y[57])  # the pause between files is not a frame interval
    np.testing.assert_allclose(y[29], 3 * period_s * 1e3)
    drops, interpolated = ax.collections
    np.testing.assert_allclose(drops.get_offsets(), [[times_s[30], 60.0]])
    np.testing.assert_allclose(
        interpolated.get_offsets(), [[times_s[12], 20.0], [times_s[40], 20.0]]
    )
    labels = ax.get_legend_handles_labels()[1]
    assert "dropped frames (2 in 1 gaps)" in labels
    assert "interpolated time, no pulse (2)" in labels
    assert "next video file" in labels
    assert ax.get_ylim()[1] == pytest.approx(60.0 * 1.15)
    with pytest.raises(ValueError, match="camera 'cam0' has 1 frame\\(s\\): no interval"):
        qc_time_figures.frame_intervals_figure(FrameTimeline("cam0", np.array([1.0])))


def _tick_label_boxes_overlap(fig: object) -> list[str]:
    canvas = FigureCanvasAgg(fig)  # type: ignore[arg-type]
    canvas.draw()
    renderer = canvas.get_renderer()
    overlaps = []
    for ax in fig.axes:  # type: ignore[attr-defined]
        for axis, name in ((ax.xaxis, "x"), (ax.yaxis, "y")):
            boxes = [
                t.get_window_extent(renderer)
                for t in axis.get_ticklabels()
                if t.get_visible() and t.get_text()
            ]
            for a, b in itertools.pairwise(boxes):
                if a.overlaps(b):
                    overlaps.append(f"{ax.get_title()} {name}")
    return overlaps


def test_sparse_and_dense_ipi_histograms_have_no_overlapping_tick_labels() -> None:
    rng = np.random.default_rng(1)
    cue = np.cumsum(rng.uniform(2.6, 6.5, 9))  # nine trials: sparse intervals of seconds
    camera = np.delete(np.arange(3000) / 50.0, [100, 900, 901])  # dense, two gaps
    fig = qc_figures.ipi_histograms_figure({"ttl_cue": cue, "ttl_cam0": camera})
    assert _tick_label_boxes_overlap(fig) == []
    cue_ax, cam_ax = fig.axes[:2]
    assert (cue_ax.get_yscale(), cam_ax.get_yscale()) == ("linear", "log")
    assert cue_ax.get_ylabel() == "count" and cam_ax.get_ylabel() == "count (log)"
    assert cue_ax.get_title() == f"ttl_cue  (median {np.median(np.diff(cue)):.3g} s)"
    assert [qc_figures.ipi_bin_count(n) for n in (1, 8, 990, 10_000)] == [5, 6, 63, 100]


def test_trial_state_raster_draws_each_visit_relative_to_its_pulse() -> None:
    states = TrialStates(
        state_names=("ITI", "Sync"),
        visit_trial_idx=np.array([0, 0, 1, 1]),
        visit_state_idx=np.array([1, 0, 1, 0]),
        visit_start_s=np.array([0.0, 0.1, 0.002, 0.2]),
        visit_stop_s=np.array([0.1, 1.0, 0.2, 1.5]),
        anchor_kind=np.array(["pulse", "model"]),
        sync_states=("Sync",),
    )
    fig = qc_time_figures.trial_states_figure(states)
    ax = fig.axes[0]
    iti, sync, no_pulse = ax.collections  # one collection per state, then the diamonds
    assert (iti.get_label(), sync.get_label()) == ("ITI", "Sync")
    bars = {
        (label, round(v[0, 0], 6), round(v[1, 0] - v[0, 0], 6), round(v[0, 1] + 0.4))
        for collection, label in ((iti, "ITI"), (sync, "Sync"))
        for v in (path.vertices for path in collection.get_paths())
    }
    assert bars == {
        ("Sync", 0.0, 0.1, 0),
        ("ITI", 0.1, 0.9, 0),
        ("Sync", 0.002, 0.198, 1),
        ("ITI", 0.2, 1.3, 1),
    }
    np.testing.assert_allclose(no_pulse.get_offsets(), [[0.0, 1.0]])  # trial 1 only
    assert ax.get_xlim()[0] < 0.0 < 1.5 < ax.get_xlim()[1]  # every bar and the pulse line show
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "ITI",
        "Sync",
        "sync pulse",
        "no pulse: clock model",
    ]
    assert _tick_label_boxes_overlap(fig) == []


def test_alignment_table_summarises_index_lists_and_lists_notes_below() -> None:
    dropped = np.arange(1000, 1000 + 3 * 250, 3)
    row = StreamStats(
        stream_id="cam0",
        kind="camera",
        n_pulses=1750,
        n_items=2000,
        n_matched=1747,
        residual_rms_ms=0.0575,
        residual_max_ms=0.1026,
        drift_ppm=19.6927,
        offset_s=0.500068629,
        dropped_idx=dropped,
        spurious_idx=np.array([], dtype=np.int64),
        missing_idx=np.array([392, 623, 631]),
        unassigned_idx=np.array([], dtype=np.int64),
        status="repaired",
        frame_pts="used",
        notes="camera 'cam0' dropped 250 frames; camera 'cam0': 3 frames had no pulse <here>",
    )
    page = render_qc_report(QCInputs(subject="m1", session="s1", alignment_stats=[row]))
    section = page.split('<section id="alignment">')[1].split("</section>")[0]
    cells = re.findall(r"<td>(.*?)</td>", section.split("<tbody>")[1].split("</tbody>")[0])
    assert cells == [
        "cam0",
        "camera",
        "repaired",
        "2000",
        "1750",
        "1747",
        '250 <span class="idx">(1000, 1003, 1006, ...)</span>',
        '3 <span class="idx">(392, 623, 631)</span>',
        "0",
        "0",
        "0.0575 / 0.103",
        "19.69",
        "0.500069",
    ]
    assert str(dropped[3]) not in section  # full lists stay in alignment_stats.json
    assert "alignment_stats.json next to the NWB file has them in full" in section
    assert (
        "<li><b>cam0</b><ul><li>camera &#x27;cam0&#x27; dropped 250 frames</li>"
        "<li>camera &#x27;cam0&#x27;: 3 frames had no pulse &lt;here&gt;</li>"
        "<li>container timestamps: used</li></ul></li>"
    ) in section


def test_failed_page_opens_with_a_sentence_and_the_first_line_never_a_traceback() -> None:
    error = (
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1, in <module>\n'
        "    boom()\n"
        "ValueError: frame count 5 <> 6\n"
    )
    page = render_qc_report(
        QCInputs(subject="m1", session="s1", status="failed", failed_phase="assembly", error=error)
    )
    after_title = page.split("</h1>\n", 1)[1]
    assert after_title.startswith(
        '<div class="failure"><p class="fail-text">This session failed in phase assembly; no NWB '
        "file was published."
    )
    assert '<p class="error"><b>Error:</b> ValueError: frame count 5 &lt;&gt; 6</p>' in page
    assert "Traceback" not in page and "boom()" not in page
    assert error_summary("verification failed: bad line 21\n  hint: fix line 21\nmore") == (
        "verification failed: bad line 21",
        "fix line 21",
    )
    assert error_summary(None) == ("", "")
    hinted = render_qc_report(
        QCInputs(
            subject="m1",
            session="s1",
            status="failed",
            error="verification failed: x.txt line 21\n  hint: fix line 21",
        )
    )
    assert '<p class="error-hint"><b>Fix:</b> fix line 21</p>' in hinted
    assert '<div class="failure">' not in render_qc_report(QCInputs(subject="m1", session="s1"))
