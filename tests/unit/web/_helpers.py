"""Builders of the dashboard tests: small workspaces and registries with known records."""

from __future__ import annotations

from pathlib import Path

from w2t_bkin.runtime.registry import Registry, TaskRecord, registry_path
from w2t_bkin.workspace.create import ExperimentInfo, init_workspace

INFO = ExperimentInfo("Lab", "Inst", ("Doe, Jane",), "P-1", "test experiment")


def make_workspace(root: Path, sessions: dict[str, list[str]]) -> Path:
    """A workspace whose sessions are folders with a ``session.toml`` (enough to discover)."""
    init_workspace(root, INFO, force=True)
    for subject, names in sessions.items():
        for session in names:
            folder = root / "data" / "raw" / subject / session
            folder.mkdir(parents=True)
            (folder / "session.toml").write_text(f'session_id = "{session}"\n')
    return root


def record(root: Path, tasks: list[TaskRecord], status: str = "succeeded") -> str:
    """One finished run holding ``tasks``; returns its id."""
    registry = Registry(registry_path(root))
    run_id = registry.start_run(["w2t-bkin", "run", str(root)], {"execution": {"jobs": 1}})
    for task in tasks:
        registry.record_task(run_id, task)
    registry.finish_run(run_id, status)
    return run_id
