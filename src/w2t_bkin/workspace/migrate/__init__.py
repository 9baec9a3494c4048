"""``w2t-bkin data migrate``: convert upstream w2t-bkin TOML files into this tool's schemas.

:func:`plan_migration` reads each file, recognises its kind (configuration, experiment, subject
or session metadata) and upstream generation, and lists what happens to every key
(:class:`MigrationRow`); it writes nothing. :func:`apply_migration` writes the converted files
atomically, keeping each original as ``<file>.upstream.bak``, and checks them with the loaders.
Which upstream key goes where is :data:`w2t_bkin.upstream_keys.UPSTREAM_KEYS`.
"""

from __future__ import annotations

from w2t_bkin.workspace.migrate.apply import WrittenFile, apply_migration, blocked_error
from w2t_bkin.workspace.migrate.plan import (
    detect_generation,
    detect_kind,
    find_migration_files,
    plan_file,
    plan_migration,
)
from w2t_bkin.workspace.migrate.rows import (
    BACKUP_SUFFIX,
    CURRENT_GENERATION,
    FileKind,
    FileMigration,
    MigrationPlan,
    MigrationRow,
)

__all__ = [
    "BACKUP_SUFFIX",
    "CURRENT_GENERATION",
    "FileKind",
    "FileMigration",
    "MigrationPlan",
    "MigrationRow",
    "WrittenFile",
    "apply_migration",
    "blocked_error",
    "detect_generation",
    "detect_kind",
    "find_migration_files",
    "plan_file",
    "plan_migration",
]
