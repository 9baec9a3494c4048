"""File serving never leaves the workspace's data folder."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from w2t_bkin.web.app import DashboardSettings
from w2t_bkin.web.errors import PathRefusedError
from w2t_bkin.web.files import resolve_in_workspace, session_files
from w2t_bkin.workspace.layout import Workspace

from ._helpers import make_workspace


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = make_workspace(tmp_path / "exp", {"m1": ["s1"]})
    qc = root / "data/processed/m1/s1/qc"
    qc.mkdir(parents=True)
    (qc / "report.html").write_text("<h1>QC of m1/s1</h1>")
    (tmp_path / "secret.txt").write_text("outside the workspace")
    (root / "configuration.toml").write_text("# not under data/\n", encoding="utf-8")
    return root


def test_a_file_under_data_resolves(root: Path) -> None:
    target = resolve_in_workspace(root, "data/processed/m1/s1/qc/report.html")
    assert target == (root / "data/processed/m1/s1/qc/report.html").resolve()


@pytest.mark.parametrize(
    "relative",
    [
        "../secret.txt",
        "data/../../secret.txt",
        "data/processed/%2e%2e/%2e%2e/../secret.txt",
        "data/%2E%2E/%2E%2E/secret.txt",
        "/etc/passwd",
        "%2Fetc%2Fpasswd",
        "data\\..\\..\\secret.txt",
        "configuration.toml",
        "data/processed/m1/s1/qc/missing.html",
        "data/processed/m1/s1/qc",
    ],
)
def test_escapes_and_missing_files_are_refused(root: Path, relative: str) -> None:
    with pytest.raises(PathRefusedError):
        resolve_in_workspace(root, relative)


def test_symlink_pointing_out_is_refused_and_one_inside_is_served(root: Path) -> None:
    processed = root / "data/processed/m1/s1"
    os.symlink(root.parent / "secret.txt", processed / "leak.txt")
    os.symlink(processed / "qc/report.html", processed / "alias.html")
    with pytest.raises(PathRefusedError, match="resolves outside"):
        resolve_in_workspace(root, "data/processed/m1/s1/leak.txt")
    assert resolve_in_workspace(root, "data/processed/m1/s1/alias.html").name == "report.html"


@pytest.mark.parametrize(
    "url",
    [
        "/files/..%2F..%2Fsecret.txt",
        "/files/data/%2e%2e/%2e%2e/secret.txt",
        "/files/data/%252e%252e/%252e%252e/secret.txt",
        "/files/%2Fetc%2Fpasswd",
        "/files//etc/passwd",
        "/files/data/processed/m1/s1/leak.txt",
    ],
)
def test_http_file_route_refuses_escapes(root: Path, client_for: Any, url: str) -> None:
    processed = root / "data/processed/m1/s1"
    os.symlink(root.parent / "secret.txt", processed / "leak.txt")
    client = client_for(DashboardSettings(root, freshness_sweeps=False))
    response = client.get(url)
    assert response.status_code == 404
    assert "outside the workspace" not in response.text


def test_http_file_route_serves_the_qc_report(root: Path, client_for: Any) -> None:
    client = client_for(DashboardSettings(root, freshness_sweeps=False))
    response = client.get("/files/data/processed/m1/s1/qc/report.html")
    assert response.status_code == 200
    assert response.text == "<h1>QC of m1/s1</h1>"
    assert response.headers["content-type"].startswith("text/html")


def test_session_files_reads_sidecars_and_names_unreadable_ones(root: Path) -> None:
    folder = root / "data/processed/m1/s1"
    (folder / "status.json").write_text(json.dumps({"status": "succeeded", "warnings": []}))
    (folder / "validation.json").write_text("{not json")
    view = session_files(Workspace(root), "m1", "s1")
    assert view.sidecars == {
        "status": {"status": "succeeded", "warnings": []},
        "alignment_stats": None,
        "validation": None,
        "provenance": None,
    }
    assert len(view.problems) == 1 and view.problems[0].startswith("validation.json cannot be read")
    assert view.qc_report == "data/processed/m1/s1/qc/report.html"
    assert (view.pipeline_log, view.nwb) == (None, None)
