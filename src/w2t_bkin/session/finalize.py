"""Finalization phase: validate, publish the NWB file, write alignment stats, QC and provenance."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from w2t_bkin.io_utils import atomic_write_json
from w2t_bkin.model.results import SessionResult, SessionStatus
from w2t_bkin.runtime.beside import TwoEnds, start_beside
from w2t_bkin.runtime.capture import RunCapture
from w2t_bkin.session.context import SessionContext, invalid_nwb_path
from w2t_bkin.session.sidecars import (
    qc_data_tasks,
    write_provenance,
    write_qc,
    write_status,
)
from w2t_bkin.session.state import SessionRun

if TYPE_CHECKING:
    from w2t_bkin.nwb.validation import ValidationReport

log = logging.getLogger(__name__)


def finalize(
    ctx: SessionContext, run: SessionRun, result: SessionResult, session_log: RunCapture
) -> None:
    """Finalization: validate, write alignment stats, QC, provenance and status, publish the NWB.

    The NWB file is renamed from its temporary name to the output path only when validation
    finds nothing blocking (or ``finalization.fail_on_critical`` is false); otherwise it is
    kept as ``<stem>.invalid.nwb`` and the phase fails (QC and provenance are then written by
    the driver, with the failed status).

    The rename is the last step, the commit point: every sidecar is written before it, so a
    process killed at any moment never leaves an NWB file without its sidecars. Sidecars found
    without their NWB file belong to a run that did not finish (the next run removes them).
    """
    from w2t_bkin.nwb.io import publish_file

    assert run.staged_nwb is not None and run.synced is not None
    staged, out = run.staged_nwb, ctx.processed_dir
    result.outputs["alignment_stats"] = atomic_write_json(
        out / "alignment_stats.json", run.synced.alignment_stats_json()
    )
    drawn: list[str] | None = None
    if ctx.config.finalization.validate_nwb:
        from w2t_bkin.nwb.validation import raise_for_blocking, validate_nwb, write_validation_json

        def validate() -> ValidationReport:
            return validate_nwb(
                staged, config=ctx.config.finalization.inspector_config, use_loaded_namespaces=True
            )

        if ctx.config.finalization.qc_report and ctx.config.execution.helper_process:
            report, drawn = _validate_and_draw(validate, *qc_data_tasks(run, result))
        else:
            report = validate()
        blocked = not report.is_clean and ctx.config.finalization.fail_on_critical
        # validation.json names the file it describes where that file ends up.
        kept_at = invalid_nwb_path(ctx.nwb_path) if blocked else ctx.nwb_path
        report = dataclasses.replace(report, path=kept_at)
        result.outputs["validation"] = write_validation_json(report, out / "validation.json")
        run.findings = [dict(f) for f in report.findings]
        if blocked:
            run.staged_nwb = None  # renamed now, or removed by publish_file if that fails
            result.outputs["invalid_nwb"] = publish_file(staged, kept_at)
            raise_for_blocking(report, kept_at=kept_at)
    result.outputs["nwb"] = ctx.nwb_path  # where it lands: the sidecars name it
    if ctx.config.finalization.qc_report:
        result.outputs["qc_report"] = write_qc(run, result, status="succeeded", data_sections=drawn)
    if ctx.config.finalization.provenance:
        result.outputs["provenance"] = write_provenance(
            run,
            result,
            status={"status": "succeeded"},
            checksum_inputs=None,
            staged={ctx.nwb_path: staged},
        )
    result.status = SessionStatus.SUCCEEDED
    write_status(ctx.processed_dir, result, run, session_log)
    run.staged_nwb = None  # renamed now, or removed by publish_file if that fails
    try:
        publish_file(staged, ctx.nwb_path)
    except Exception:
        result.status = SessionStatus.PENDING  # the driver records the failure
        del result.outputs["nwb"]
        raise


def _validate_and_draw(
    validate: Callable[[], ValidationReport],
    tasks: list[Callable[[], str]],
    join: Callable[[list[str]], list[str]],
) -> tuple[ValidationReport, list[str]]:
    """The validation report and the QC data sections (``join`` of every task's result).

    With a CPU to spare, a forked child validates while this process draws the QC figures (the
    two longest steps of finalization); the child then draws too, taking tasks from the other
    end of the list until the two processes meet. Otherwise both run here, one after the other.
    """

    def drawn(take: Callable[[], int | None]) -> dict[int, str]:
        return {i: tasks[i]() for i in iter(take, None)}

    try:
        ends = TwoEnds(len(tasks))
    except OSError:  # no shared lock on this platform
        beside = None
    else:
        beside = start_beside(lambda: (validate(), drawn(ends.take_back)))
    if beside is None:
        return validate(), join([task() for task in tasks])
    try:
        mine = drawn(ends.take_front)
    except BaseException:
        beside.cancel()
        raise
    report, theirs = beside.result()
    # what the child took and could not deliver (it died) is drawn here
    parts = [
        mine[i] if i in mine else theirs[i] if i in theirs else tasks[i]()
        for i in range(len(tasks))
    ]
    return report, join(parts)
