"""QC report: self-contained HTML, escaped text, figures, missing-data sections."""

from __future__ import annotations

import base64
import datetime as dt
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from w2t_bkin.model.stats import StreamStats
from w2t_bkin.report import qc_figures
from w2t_bkin.report.qc import MAX_LISTED_DROPPED, QCInputs, render_qc_report, write_qc_report
from w2t_bkin.report.qc_figures import MAX_PLOT_FRAMES, confidence_stats, stride_subsample
from w2t_bkin.report.qc_inputs import FrameCheck, PoseConfidence, TrialAlignmentSummary

VOID_TAGS = {"meta", "img", "br", "hr", "link", "input"}
MALICIOUS = "<script>alert('x')</script>"


class _StrictChecker(HTMLParser):
    """Fails on unbalanced tags and collects img sources and external references."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.img_src: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        if tag == "img":
            self.img_src.append(str(values.get("src")))
        for key in ("src", "href"):
            if str(values.get(key, "")).startswith(("http:", "https:", "//")):
                self.errors.append(f"external reference {values[key]}")
        if tag not in VOID_TAGS:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> (open: {self.stack[-3:]})")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(page: str) -> _StrictChecker:
    checker = _StrictChecker()
    checker.feed(page)
    checker.close()
    assert checker.errors == []
    assert checker.stack == []
    return checker


def _ttl_with_gap() -> np.ndarray:
    times_s = 2.0 + np.arange(1000) / 100.0  # 100 Hz
    return np.delete(times_s, np.arange(500, 505))  # 5 missing pulses: one 60 ms gap


def _full_inputs(n_pose_frames: int = 2_000) -> QCInputs:
    rng = np.random.default_rng(42)
    n_trials = 40
    trial_idx = np.arange(n_trials)
    trial_start_s = 5.0 + trial_idx * 0.25
    drift_ppm = 12.3456
    offsets_s = 1.5 + drift_ppm * 1e-6 * trial_start_s + rng.normal(0, 2e-4, n_trials)
    labels = np.where(trial_idx % 10 == 9, "unmatched", "matched")
    residuals_ms = rng.normal(0, 0.2, int((labels == "matched").sum()))
    confidence = rng.uniform(0.0, 1.0, (n_pose_frames, 6)).astype(np.float32)
    confidence[:, 0] = 0.9  # a reliable keypoint
    confidence[::10, 5] = np.nan  # 10 % missing detections
    return QCInputs(
        subject=MALICIOUS,
        session="ses-01",
        generated_at=dt.datetime(2024, 6, 1, 8, 30, tzinfo=dt.UTC),
        w2t_bkin_version="9.9.9",
        frame_checks=[
            FrameCheck(
                camera_id="cam_top",
                n_video_frames=1000,
                n_pulses=995,
                n_matched=995,
                dropped_frames=np.array([500, 501, 502, 503, 504]),
                n_spurious=0,
                n_missing=5,
                status="warn",
                frame_clock="ttl",
            ),
            FrameCheck(
                camera_id="cam_side",
                n_video_frames=600,
                n_pulses=0,
                n_matched=0,
                dropped_frames=np.array([], dtype=np.int64),
                n_spurious=0,
                n_missing=0,
                status="ok",
                frame_clock="rate",
            ),
        ],
        ttl_channels={
            "cam_top_ttl": _ttl_with_gap(),
            "bpod_sync": trial_start_s + 1.5,
            "empty_line": np.array([], dtype=np.float64),
        },
        trial_alignment=TrialAlignmentSummary(
            trial_idx=trial_idx,
            offsets_s=offsets_s,
            residuals_ms=residuals_ms,
            alignment_label=labels,
            drift_ppm=drift_ppm,
            offset_s=1.5000621,
        ),
        pose_confidence={
            "cam_top": PoseConfidence(
                keypoint_names=["nose", "ear_l", "ear_r", "paw_l", "paw_r", "tail<base>"],
                confidence=confidence,
            )
        },
        validation_findings=[
            {
                "importance": "BEST_PRACTICE_SUGGESTION",
                "severity": "LOW",
                "check_name": "check_keywords",
                "message": "Metadata /general/keywords is missing.",
                "object_type": "NWBFile",
                "object_name": "root",
                "location": "/",
            },
            {
                "importance": "CRITICAL",
                "severity": "LOW",
                "check_name": "check_subject_age",
                "message": "Subject is missing age & date_of_birth.",
                "object_type": "Subject",
                "object_name": "subject",
                "location": "/general/subject",
            },
        ],
        warnings=["cam_top: 5 frames without a TTL pulse", f"label {MALICIOUS}"],
        alignment_stats=[
            StreamStats(
                stream_id="bpod:bpod_sync",
                kind="trials",
                n_pulses=40,
                n_items=40,
                n_matched=36,
                residual_rms_ms=0.2,
                residual_max_ms=0.61,
                drift_ppm=drift_ppm,
                offset_s=1.5000621,
                dropped_idx=np.array([], dtype=np.int64),
                spurious_idx=np.array([], dtype=np.int64),
                missing_idx=np.array([9, 19, 29, 39]),
                unassigned_idx=np.array([], dtype=np.int64),
                status="repaired",
            )
        ],
    )


@pytest.fixture(scope="module")
def page() -> str:
    return render_qc_report(_full_inputs())


def test_page_is_well_formed_and_self_contained(page: str) -> None:
    checker = _parse(page)
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page  # no JavaScript, and the malicious label is escaped
    assert checker.tags.count("section") == 9
    # every image is an embedded PNG
    # TTL raster, IPI histograms, trials, pose cam_top per keypoint and over time
    assert len(checker.img_src) == 5
    for src in checker.img_src:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


def test_text_is_escaped(page: str) -> None:
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "tail&lt;base&gt;" in page
    assert "missing age &amp; date_of_birth" in page
    text = "".join(_parse(page).text)
    assert f"QC report: subject {MALICIOUS}, session ses-01" in text
    assert f"label {MALICIOUS}" in text


def test_frames_and_dropped_frames(page: str) -> None:
    text = "".join(_parse(page).text)
    assert "cam_top" in text and "cam_side" in text
    assert "5 dropped frame(s) at indices 500, 501, 502, 503, 504" in text
    assert "cam_side: no frame TTL, frame times from a nominal rate" in text  # rate clock
    assert '<span class="badge warn">warn</span>' in page
    assert '<span class="badge ok">ok</span>' in page
    assert "generated 2024-06-01T08:30:00+00:00 by w2t-bkin 9.9.9" in text


def test_ttl_table_reports_rate_and_gap(page: str) -> None:
    ttl_section = page.split('<section id="ttl">')[1].split("</section>")[0]
    rows = re.findall(r"<tr><td>(cam_top_ttl|bpod_sync|empty_line)</td>(.*?)</tr>", ttl_section)
    cells = {name: re.findall(r"<td>(.*?)</td>", rest) for name, rest in rows}
    # pulses, first, last, median interval ms, rate Hz, gaps
    assert cells["cam_top_ttl"] == ["995", "2.000", "11.990", "10.000", "100.000", "1"]
    assert cells["bpod_sync"][0] == "40"
    assert cells["bpod_sync"][3:] == ["250.000", "4.000", "0"]
    assert cells["empty_line"] == ["0", "", "", "n/a", "", "0"]


def test_trial_alignment_facts(page: str) -> None:
    text = "".join(_parse(page).text)
    assert "12.35 ppm" in text
    assert "1.500062 s" in text
    assert "matched: 36, unmatched: 4" in text
    assert "Alignment statistics" in text
    assert "0.61" in text


def test_validation_rows_coloured_by_importance(page: str) -> None:
    assert (
        '<tr class="imp-critical"><td>CRITICAL</td><td class="wrap">check_subject_age</td>' in page
    )
    assert '<tr class="imp-best_practice_suggestion"><td>BEST_PRACTICE_SUGGESTION</td>' in page
    assert "1 blocking" in page


def test_missing_data_sections_say_so() -> None:
    page = render_qc_report(QCInputs(subject="m1", session="s1"))
    checker = _parse(page)
    text = "".join(checker.text)
    assert checker.img_src == []
    assert "no Bpod data in this session" in text
    assert "no TTL channels in this session" in text
    assert "no cameras in this session" in text
    assert "no pose data in this session" in text
    assert "NWB validation was not run" in text
    assert "no warnings" in text


def test_dropped_frame_list_is_truncated() -> None:
    dropped = list(range(10, 10 + 3 * 250, 3))
    qc = QCInputs(
        subject="m1",
        session="s1",
        frame_checks=[
            FrameCheck(
                camera_id="cam0",
                n_video_frames=2_000,
                n_pulses=1_750,
                n_matched=1_750,
                dropped_frames=np.array(dropped),
                n_spurious=0,
                n_missing=0,
                status="repaired",
                frame_clock="ttl",
            )
        ],
    )
    text = "".join(_parse(render_qc_report(qc)).text)
    listed = ", ".join(str(i) for i in dropped[:MAX_LISTED_DROPPED])
    assert f"250 dropped frame(s) at indices {listed} ... and 150 more" in text
    assert str(dropped[MAX_LISTED_DROPPED]) not in text.split("more")[0].split(listed)[1]


def test_large_confidence_array_renders(tmp_path: Path) -> None:
    n_frames = 200_000
    qc = QCInputs(
        subject="m1",
        session="s1",
        pose_confidence={
            "cam0": PoseConfidence(
                keypoint_names=[f"kp{i}" for i in range(12)],
                confidence=np.random.default_rng(3)
                .uniform(0, 1, (n_frames, 12))
                .astype(np.float32),
            )
        },
    )
    path = write_qc_report(qc, tmp_path / "qc" / "report.html")
    page = path.read_text(encoding="utf-8")
    checker = _parse(page)
    assert len(checker.img_src) == 2  # per keypoint, over time
    assert "200,000 frames; percentiles from 50,000 frames" in "".join(checker.text)


def test_confidence_stats_exact() -> None:
    conf = np.array(
        [[0.1, 0.9], [0.2, np.nan], [0.6, 0.8], [0.7, 0.4], [0.8, np.nan]], dtype=np.float32
    )
    stats = confidence_stats(["a", "b"], conf)
    assert stats.n_frames == 5
    assert stats.n_frames_used == 5
    np.testing.assert_allclose(stats.fraction_low, [2 / 5, 1 / 3])
    np.testing.assert_allclose(stats.fraction_nan, [0.0, 2 / 5])
    np.testing.assert_allclose(stats.median, [0.6, 0.8], rtol=1e-6)
    with pytest.raises(ValueError, match=r"shape \(n_frames, 3\)"):
        confidence_stats(["a", "b", "c"], conf)


def test_all_nan_keypoint_has_nan_stats() -> None:
    conf = np.column_stack([np.full(4, np.nan), np.linspace(0, 1, 4)]).astype(np.float32)
    stats = confidence_stats(["lost", "ok"], conf)
    assert np.isnan(stats.median[0])
    assert np.isnan(stats.fraction_low[0])
    assert stats.fraction_nan[0] == 1.0
    assert stats.median[1] == pytest.approx(0.5)
    page = render_qc_report(
        QCInputs(
            subject="m1",
            session="s1",
            pose_confidence={
                "cam0": PoseConfidence(keypoint_names=["lost", "ok"], confidence=conf)
            },
        )
    )
    assert len(_parse(page).img_src) == 2  # per keypoint, over time


def test_stride_subsample_bounds() -> None:
    values = np.arange(540_000)
    sub = stride_subsample(values)
    assert sub.shape[0] <= MAX_PLOT_FRAMES
    assert sub[0] == 0
    assert sub[1] - sub[0] == 11  # ceil(540000 / 50000)
    assert stride_subsample(np.arange(10)).shape == (10,)


def test_write_report_is_atomic_replacement(tmp_path: Path) -> None:
    path = tmp_path / "qc" / "report.html"
    write_qc_report(QCInputs(subject="m1", session="old"), path)
    write_qc_report(QCInputs(subject="m1", session="new"), path)
    page = path.read_text(encoding="utf-8")
    assert "session new" in page
    assert sorted(p.name for p in path.parent.iterdir()) == ["report.html"]


def test_failed_figure_is_reported_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(channels: object) -> bytes:
        raise RuntimeError("renderer exploded <here>")

    monkeypatch.setattr(qc_figures, "ttl_timeline_png", broken)
    page = render_qc_report(
        QCInputs(subject="m1", session="s1", ttl_channels={"cam0": np.arange(10) / 30.0})
    )
    checker = _parse(page)
    assert "figure could not be drawn: RuntimeError: renderer exploded &lt;here&gt;" in page
    assert len(checker.img_src) == 1  # the IPI histogram still renders


def test_clock_perfect_inputs_render_all_figures() -> None:
    # Intervals equal up to float rounding once broke fixed-count histogram bins.
    n_trials = 5
    qc = QCInputs(
        subject="m1",
        session="s1",
        ttl_channels={"cam0": np.arange(300) / 30.0, "single": np.array([1.0])},
        trial_alignment=TrialAlignmentSummary(
            trial_idx=np.arange(n_trials),
            offsets_s=np.full(n_trials, 0.25),
            residuals_ms=np.full(n_trials, 0.1),
            alignment_label=np.array(["matched"] * n_trials),
            drift_ppm=0.0,
            offset_s=0.25,
        ),
    )
    page = render_qc_report(qc)
    assert "could not be drawn" not in page
    assert len(_parse(page).img_src) == 3
    assert "0.00 ppm" in page


def _summary_badges(page: str) -> dict[str, tuple[str, str]]:
    """Label -> (css class, text) of every summary badge."""
    summary = page.split('<section id="summary">')[1].split("</section>")[0]
    found = re.findall(
        r'<span class="badge (\w+)"><span class="label">(.*?)</span>(.*?)</span>', summary
    )
    return {label: (css, text) for css, label, text in found}


def _trials(labels: list[str]) -> TrialAlignmentSummary:
    n = len(labels)
    return TrialAlignmentSummary(
        trial_idx=np.arange(n),
        offsets_s=np.full(n, 0.25),
        residuals_ms=np.full(n, 0.1),
        alignment_label=np.array(labels),
        drift_ppm=12.0,
        offset_s=0.25,
    )


def test_bpod_badge_warns_when_a_trial_is_unaligned_or_extrapolated() -> None:
    clean = render_qc_report(
        QCInputs(subject="m1", session="s1", trial_alignment=_trials(["matched"] * 3))
    )
    assert _summary_badges(clean)["Bpod alignment"] == ("ok", "12.00 ppm")
    flagged = render_qc_report(
        QCInputs(
            subject="m1",
            session="s1",
            trial_alignment=_trials(
                ["matched", "unaligned", "extrapolated", "unaligned", "interpolated"]
            ),
        )
    )
    assert _summary_badges(flagged)["Bpod alignment"] == (
        "warn",
        "2 unaligned, 1 extrapolated of 5 trials; 12.00 ppm",
    )


def test_failed_session_report_shows_phase_error_and_what_was_not_reached() -> None:
    page = render_qc_report(
        QCInputs(
            subject="m1",
            session="s1",
            status="failed",
            failed_phase="ingestion",
            error="ingestion failed: pose file <x>.h5 has 5 frames",
            completed_phases=("configuration", "discovery", "verification", "pose generation"),
            ttl_channels={"cam0": np.arange(10) / 30.0},
        )
    )
    _parse(page)
    badges = _summary_badges(page)
    assert badges["session"] == ("fail", "failed in ingestion")
    assert badges["Bpod alignment"] == ("na", "not reached")
    assert badges["NWB validation"] == ("na", "not reached")
    assert badges["cameras"] == ("na", "not reached")
    assert badges["TTL channels"] == ("ok", "1")  # read in verification, which finished
    text = "".join(_parse(page).text)
    assert "This session failed in phase ingestion; no NWB file was published" in text
    assert '<p class="error"><b>Error:</b> ingestion failed: pose file &lt;x&gt;.h5 has 5 ' in page
    reached = "not reached: the session failed in phase ingestion before"
    assert f"{reached} frame times were available" in text
    assert f"{reached} pose tracks were available" in text
    assert f"{reached} Bpod trial times were available" in text
    assert f"{reached} an NWB file to validate were available" in text
    # TTL pulses were read in verification, which finished: they are shown
    assert "no TTL channels" not in text and "<td>cam0</td>" in page
    ok = render_qc_report(QCInputs(subject="m1", session="s1"))
    assert _summary_badges(ok)["session"] == ("ok", "succeeded")
    assert "not reached" not in ok


def test_pose_shows_every_individual_and_counts_missing_from_positions() -> None:
    n_frames = 10
    # individual 0 has scores; individual 1 (SLEAP without scores) has none but has positions
    confidence = np.full((n_frames, 2, 2), np.nan, dtype=np.float32)
    confidence[:, 0, 0] = np.linspace(0.0, 0.9, n_frames)
    confidence[:, 0, 1] = 0.8
    missing = np.array([[0.0, 0.3], [0.1, 0.0]])
    page = render_qc_report(
        QCInputs(
            subject="m1",
            session="s1",
            pose_confidence={
                "cam0": PoseConfidence(
                    keypoint_names=["nose", "tail"],
                    individual_names=["female", "male"],
                    confidence=confidence,
                    missing_fraction=missing,
                )
            },
        )
    )
    checker = _parse(page)
    pose = page.split('<section id="pose">')[1].split("</section>")[0]
    assert "<h4>cam0: female</h4>" in pose and "<h4>cam0: male</h4>" in pose
    assert len(checker.img_src) == 2  # figures (per keypoint, over time) of the scored one only
    female, male = pose.split("<h4>cam0: male</h4>")
    assert "<th>% frames missing (no position)</th>" in pose
    female_rows = re.findall(r"<tr><td>(nose|tail)</td>(.*?)</tr>", female)
    male_rows = re.findall(r"<tr><td>(nose|tail)</td>(.*?)</tr>", male)
    # median, IQR, % low, % missing (positions), % without score
    assert re.findall(r"<td>(.*?)</td>", female_rows[0][1]) == [
        "0.450",
        "0.225 - 0.675",
        "50.0",  # 0.0, 0.1, 0.2, 0.3, 0.4 of 0.0 .. 0.9
        "0.0",
        "0.0",
    ]
    assert re.findall(r"<td>(.*?)</td>", female_rows[1][1])[3] == "30.0"
    assert re.findall(r"<td>(.*?)</td>", male_rows[0][1]) == ["no scores", "", "", "10.0", "100.0"]
    assert "no confidence scores in the source file: positions only" in male


def test_own_clock_cameras_say_drops_are_not_counted_and_list_timestamp_gaps() -> None:
    from w2t_bkin.report.qc_inputs import FrameTimeline
    from w2t_bkin.report.qc_sections import frame_timing_html, timestamp_gaps

    times_s = np.arange(300) / 100.0
    times_s[76:] += 0.01  # one frame missing after frame 75
    times_s[130:] += 0.02  # two after frame 129
    times_s[200:] += 5.0  # the pause before the second file (starts at frame 200)
    timeline = FrameTimeline("pupil", times_s, chunk_starting_frame=np.array([0, 200]))
    np.testing.assert_array_equal(timestamp_gaps(timeline), [75, 129])

    def check(camera_id: str, clock: str) -> FrameCheck:
        return FrameCheck(camera_id, 300, 0, 0, np.empty(0, np.int64), 0, 0, "no TTL", clock)

    text = "".join(_parse(frame_timing_html([check("pupil", "video")], [timeline])).text)
    assert "pupil: no frame TTL, frame times from the video's own timestamps" in text
    assert (
        "2 gap(s) in the video's timestamps (frames likely dropped) after frame indices 75, 129"
        in text
    )
    assert "every frame has a pulse" not in text and "no dropped frames" not in text
    rate = FrameTimeline("overview", np.arange(300) / 30.0)
    text = "".join(_parse(frame_timing_html([check("overview", "rate")], [rate])).text)
    assert "overview: no frame TTL, frame times from a nominal rate" in text
    assert "gap" not in text and "every frame has a pulse" not in text
