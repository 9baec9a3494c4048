"""Write a planned migration: backups first, atomic writes, then the loaders' verdict."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from w2t_bkin.config import load_config
from w2t_bkin.errors import AlreadyExistsError, ConfigError, MetadataError, W2TError, WorkspaceError
from w2t_bkin.io_utils import atomic_write_bytes, atomic_write_text
from w2t_bkin.metadata import check_metadata_file
from w2t_bkin.workspace.migrate.rows import FileMigration, MigrationPlan


@dataclass(frozen=True)
class WrittenFile:
    """A migrated file, its backup, and what our loader still finds wrong with it (if anything)."""

    path: Path
    backup: Path
    problems: tuple[str, ...]


def blocked_error(plan: MigrationPlan) -> W2TError:
    """The error for a plan with files that cannot be migrated: each file, key and problem."""
    blocked = plan.blocked
    lines = [problem for item in blocked for problem in item.problems]
    error_cls = ConfigError if blocked[0].kind == "configuration" else MetadataError
    return error_cls(
        f"cannot migrate {len(blocked)} file(s); nothing was written:\n  " + "\n  ".join(lines),
        hint="fix these keys by hand (the table above shows each value), then rerun "
        "`w2t-bkin data migrate`",
    )


def apply_migration(plan: MigrationPlan) -> tuple[WrittenFile, ...]:
    """Write every changed file of ``plan``; each original is kept as ``<file>.upstream.bak``.

    Nothing is written unless every file can be migrated and no backup exists yet. Each file is
    then checked with the loaders (``config.load_config``, ``metadata.check_metadata_file``).

    Raises
    ------
    ConfigError, MetadataError
        A file cannot be migrated (:func:`blocked_error`).
    AlreadyExistsError
        A backup exists already (an earlier migration kept it).
    WorkspaceError
        A file changed since it was planned.
    """
    if plan.blocked:
        raise blocked_error(plan)
    for item in plan.to_write:
        if item.backup_path.exists():
            raise AlreadyExistsError(
                f"backup {item.backup_path} exists already (an earlier migration kept it); "
                "nothing was written",
                hint="move the backup somewhere safe, or delete it once you have checked the "
                "file it kept, then rerun with --write",
            )
        if item.path.read_text(encoding="utf-8") != item.original_text:
            raise WorkspaceError(
                f"{item.path} changed since it was read; nothing was written",
                hint="rerun `w2t-bkin data migrate` to plan again from the current file",
            )
    return tuple(_write(item) for item in plan.to_write)


def _write(item: FileMigration) -> WrittenFile:
    atomic_write_bytes(item.backup_path, item.path.read_bytes())
    atomic_write_text(item.path, item.converted_text)
    return WrittenFile(item.path, item.backup_path, tuple(_loader_problems(item)))


def _loader_problems(item: FileMigration) -> list[str]:
    if item.kind == "configuration":
        try:
            load_config(item.path)
        except ConfigError as exc:
            return [line for line in exc.message.splitlines() if line.strip()]
        return []
    return check_metadata_file(item.path)[1]
