"""``w2t-bkin ephys dispatch|schema``: spike-sorting jobs from an ephys session.

``dispatch`` writes one ``job_<id>.json`` per recording to sort and a manifest of what was
dispatched and what was left out (and why). Flags and ``--params FILE.json`` share one schema
and one set of defaults; a flag given explicitly wins over the file and the disagreement is
printed and recorded. SpikeInterface is imported inside the commands (``--help`` stays fast).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from w2t_bkin.cli import app, stderr, stdout
from w2t_bkin.errors import W2TError

ephys_app = typer.Typer(help="Electrophysiology: spike-sorting job dispatch.", no_args_is_help=True)
app.add_typer(ephys_app, name="ephys")

INPUTS = ("aind", "spikeglx", "openephys", "nwb", "spikeinterface")


@ephys_app.command("dispatch")
def dispatch_command(
    data_dir: Path = typer.Argument(..., help="Folder holding the session(s)."),
    output: Path = typer.Option(..., "--output", "-o", help="Results folder for the job files."),
    input_format: str | None = typer.Option(
        None, "--input", "-i", help="aind, spikeglx, openephys, nwb or spikeinterface."
    ),
    concatenate: bool | None = typer.Option(
        None, "--concatenate/--no-concatenate", help="One job per stream, segments concatenated."
    ),
    split_segments: bool | None = typer.Option(
        None, "--split-segments/--no-split-segments", help="One job per segment [default: split]."
    ),
    split_groups: bool | None = typer.Option(
        None, "--split-groups/--no-split-groups", help="One job per shank/group [default: split]."
    ),
    debug: bool | None = typer.Option(
        None, "--debug/--no-debug", help="Clip every segment to --debug-duration seconds."
    ),
    debug_duration: float | None = typer.Option(
        None, "--debug-duration", help="Clip length in seconds [default: 30]."
    ),
    skip_timestamps_check: bool | None = typer.Option(
        None, "--skip-timestamps-check/--check-timestamps", help="Skip the timestamp check."
    ),
    min_recording_duration: float | None = typer.Option(
        None,
        "--min-recording-duration",
        help="Skip jobs shorter than this many seconds (after split/clip); <= 0 disables.",
    ),
    multi_session: bool | None = typer.Option(
        None, "--multi-session/--single-session", help="Allow several sessions in DATA_DIR."
    ),
    nwb_files: list[str] | None = typer.Option(
        None, "--nwb-files", help="NWB file(s) relative to DATA_DIR (repeat or comma-separate)."
    ),
    spikeinterface_info: str | None = typer.Option(
        None, "--spikeinterface-info", help="Reader spec for --input spikeinterface (JSON/file)."
    ),
    include_stream: list[str] | None = typer.Option(
        None, "--include-stream", help="Regex: dispatch only matching streams (repeatable)."
    ),
    exclude_stream: list[str] | None = typer.Option(
        None,
        "--exclude-stream",
        help="Regex: never dispatch matching streams (repeatable; replaces the defaults "
        "nidq, NI-DAQ, SYNC, ADC, obx, LFP, .lf).",
    ),
    verify_reload: bool | None = typer.Option(
        None,
        "--verify-reload/--no-verify-reload",
        help="Reload each job from a relocated data folder before writing it [default: on].",
    ),
    params_file: str | None = typer.Option(
        None, "--params", help="JSON file (or inline object) of the same keys as the flags."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the jobs; write nothing."),
    output_format: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """Write one sorting-job JSON per recording to sort, and a manifest."""
    if output_format not in ("table", "json"):
        raise W2TError(f"--format {output_format!r}: expected table or json")
    from w2t_bkin.ephys.dispatch import dispatch
    from w2t_bkin.ephys.params import resolve_params

    flags: dict[str, Any] = {
        "input": input_format,
        "concatenate": concatenate,
        "split_segments": split_segments,
        "split_groups": split_groups,
        "debug": debug,
        "debug_duration_s": debug_duration,
        "skip_timestamps_check": skip_timestamps_check,
        "min_recording_duration_s": min_recording_duration,
        "multi_session": multi_session,
        "nwb_files": ",".join(nwb_files) if nwb_files else None,
        "spikeinterface_info": spikeinterface_info,
        "include_streams": tuple(include_stream) if include_stream else None,
        "exclude_streams": tuple(exclude_stream) if exclude_stream else None,
        "verify_reload": verify_reload,
    }
    resolved = resolve_params(flags, params_file)
    for conflict in resolved.conflicts:
        stderr.print(f"[yellow]warning:[/] {escape(conflict.describe())}", highlight=False)
    result = dispatch(
        data_dir, output, resolved.params, conflicts=resolved.conflicts, dry_run=dry_run
    )
    if output_format == "json":
        print(
            json.dumps(
                {
                    "dry_run": dry_run,
                    "jobs": [
                        {
                            "job_id": j.job_id,
                            "recording_name": j.recording_name,
                            "duration_s": j.duration_s,
                            "skip_times": j.skip_times,
                        }
                        for j in result.jobs
                    ],
                    "skipped": [s.as_json() for s in result.skipped],
                    "conflicts": [c.describe() for c in result.conflicts],
                    "manifest": str(result.manifest_path) if result.manifest_path else None,
                },
                indent=2,
            )
        )
        return
    table = Table("job", "recording", "segment", "group", "duration_s", "LFP", "skip_times")
    for job in result.jobs:
        table.add_row(
            job.job_id,
            escape(job.recording_name),
            "all" if job.segment is None else str(job.segment),
            "" if job.group is None else escape(str(job.group)),
            f"{job.duration_s:.3f}",
            escape(job.lfp_stream or "-"),
            "yes" if job.skip_times else "no",
        )
    stdout.print(table)
    for item in result.skipped:
        where = "/".join(str(p) for p in (item.session_name, item.block, item.stream) if p)
        stdout.print(f"skipped {escape(where)}: {escape(item.reason)}", highlight=False)
    verb = "would write" if dry_run else "wrote"
    target = escape(str(output))
    stdout.print(f"{verb} {len(result.jobs)} job(s) to {target}", highlight=False)


@ephys_app.command("schema")
def schema_command(
    what: str = typer.Option("job", "--what", help="job (job file) or params (--params file)."),
) -> None:
    """Print the JSON schema of a job file (or of the dispatch parameters)."""
    if what == "job":
        from w2t_bkin.ephys.jobs import job_json_schema

        print(json.dumps(job_json_schema(), indent=2))
    elif what == "params":
        from w2t_bkin.ephys.params import DispatchParams

        print(json.dumps(DispatchParams.model_json_schema(), indent=2))
    else:
        raise W2TError(f"--what {what!r}: expected job or params", hint="--what job")


@ephys_app.command("sort")
def sort_command(
    results_dir: Path = typer.Argument(..., help="Results folder of `ephys dispatch`."),
    sorter: str = typer.Option(
        "spykingcircus2", "--sorter", help="spykingcircus2, tridesclous2 or simple (in-process)."
    ),
    sorter_params: str | None = typer.Option(
        None, "--sorter-params", help="JSON object (or file) overriding the sorter's defaults."
    ),
    executor: str = typer.Option("local", "--executor", help="local or dask."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Jobs sorted at once."),
    n_jobs: int | None = typer.Option(
        None, "--n-jobs", min=1, help="Workers inside each job [default: CPUs / --jobs]."
    ),
    scheduler: str | None = typer.Option(None, "--scheduler", help="Dask scheduler address."),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Where the data is now [default: the manifest's data_dir]."
    ),
    freq_min: float = typer.Option(300.0, "--freq-min", help="Bandpass low corner, Hz."),
    freq_max: float = typer.Option(6000.0, "--freq-max", help="Bandpass high corner, Hz."),
    reference: str = typer.Option("global", "--reference", help="global (median) or none."),
    motion_correction: bool = typer.Option(
        False, "--motion-correction/--no-motion-correction", help="Correct probe motion."
    ),
    motion_preset: str = typer.Option(
        "nonrigid_fast_and_accurate",
        "--motion-preset",
        help="correct_motion preset (dredge, dredge_fast and rigid_fast need torch).",
    ),
    nwb: bool = typer.Option(False, "--nwb", help="Also write units.nwb per job."),
    session_start_time: str | None = typer.Option(
        None,
        "--session-start-time",
        help="NWB session start, ISO 8601 with offset (2026-01-02T10:00:00+01:00); --nwb only.",
    ),
    force: bool = typer.Option(False, "--force", help="Sort finished jobs again."),
) -> None:
    """Spike-sort every dispatched job; finished jobs are skipped, failures reported."""
    from pydantic import ValidationError

    from w2t_bkin.cli import invocation
    from w2t_bkin.ephys.sort import SortParams, default_n_jobs, sort_results
    from w2t_bkin.errors import ConfigError

    overrides: dict[str, Any] = {}
    if sorter_params:
        text = sorter_params
        if not text.lstrip().startswith("{"):
            try:
                text = Path(text).read_text(encoding="utf-8")
            except OSError as exc:
                raise W2TError(
                    f"--sorter-params {sorter_params!r}: cannot read the file ({exc})",
                    hint="give a JSON object, e.g. --sorter-params '{\"detect_threshold\": 5}'",
                ) from None
        try:
            overrides = json.loads(text)
        except json.JSONDecodeError as exc:
            raise W2TError(
                f"--sorter-params: not JSON ({exc.msg}, line {exc.lineno} column {exc.colno})",
                hint="give a JSON object, e.g. --sorter-params '{\"detect_threshold\": 5}'",
            ) from None
        if not isinstance(overrides, dict):
            raise W2TError(
                f"--sorter-params: expected a JSON object, found {type(overrides).__name__}"
            )
    try:
        params = SortParams(
            sorter=sorter,
            sorter_params=overrides,
            freq_min_hz=freq_min,
            freq_max_hz=freq_max,
            reference=reference,  # type: ignore[arg-type]
            motion_correction=motion_correction,
            motion_preset=motion_preset,
            n_jobs=n_jobs or default_n_jobs(jobs),
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = "-".join(str(p) for p in first["loc"]).replace("_hz", "").replace("_", "-")
        where = f"--{loc}: " if loc else ""
        raise ConfigError(
            f"ephys sort: {where}{first['msg']}",
            hint="see w2t-bkin ephys sort --help",
        ) from None
    start = _session_start(nwb, session_start_time)
    report = sort_results(
        results_dir,
        params,
        executor=executor,
        jobs=jobs,
        data_dir=data_dir,
        nwb_session_start=start,
        force=force,
        scheduler=scheduler,
        command=invocation(),
    )
    table = Table("job", "recording", "status", "units", "spikes", "duration_s", "wall_s")
    for row in report.rows:
        table.add_row(
            row.job_id,
            escape(row.recording_name),
            row.status,
            "" if row.n_units is None else str(row.n_units),
            "" if row.n_spikes is None else str(row.n_spikes),
            "" if row.duration_s is None else f"{row.duration_s:.1f}",
            "" if row.wall_s is None else f"{row.wall_s:.1f}",
        )
    stdout.print(table)
    for row in report.rows:
        if row.error:
            stderr.print(
                f"[red]failed[/] {row.job_id} ({escape(row.recording_name)}): {escape(row.error)}",
                highlight=False,
            )
    counts = {s: sum(r.status == s for r in report.rows) for s in ("done", "cached", "failed")}
    stdout.print(
        f"sorted {counts['done']}, skipped {counts['cached']} finished, failed "
        f"{counts['failed']} of {len(report.rows)} job(s); run {report.run_id}",
        highlight=False,
    )
    if report.n_failed:
        raise typer.Exit(1)


def _session_start(nwb: bool, text: str | None) -> Any:
    """The ``--session-start-time`` of ``--nwb`` as an aware datetime (``None`` without NWB)."""
    import datetime as dt

    from w2t_bkin.errors import ConfigError

    if not nwb:
        if text is not None:
            raise ConfigError("--session-start-time is only used with --nwb", hint="add --nwb")
        return None
    if text is None:
        raise ConfigError(
            "--nwb needs --session-start-time: job files record no session start, and "
            "w2t-bkin never invents one",
            hint="pass the recording's start, e.g. --session-start-time 2026-01-02T10:00:00+01:00",
        )
    try:
        start = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"--session-start-time {text!r}: not an ISO 8601 date and time",
            hint="e.g. --session-start-time 2026-01-02T10:00:00+01:00",
        ) from None
    if start.utcoffset() is None:
        raise ConfigError(
            f"--session-start-time {text!r} has no time zone",
            hint="add the offset, e.g. 2026-01-02T10:00:00+01:00",
        )
    return start
