"""Bpod task, states, events, actions and trials with ndx-structured-behavior 0.2.

Layout: ``Task`` (state/event/action types and task arguments) in ``lab_meta_data``;
``TaskRecording`` (StatesTable, core EventsTable, ActionsTable) in acquisition; a ``TrialsTable``
as ``nwbfile.trials`` with ragged references into the three tables. Every time is mapped from the
Bpod clock onto the reference clock with the supplied vectorised function.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from hdmf.common import DynamicTableRegion, VectorData, VectorIndex
from ndx_structured_behavior import (
    ActionsTable,
    ActionTypesTable,
    EventTypesTable,
    StatesTable,
    StateTypesTable,
    Task,
    TaskArgumentsTable,
    TaskRecording,
    TrialsTable,
)
from pynwb import NWBFile
from pynwb.event import EventsTable, TimestampVectorData

from w2t_bkin.errors import SyncError
from w2t_bkin.model.bpod import BpodSession, flatten_settings
from w2t_bkin.nwb.io import row_ids

log = logging.getLogger(__name__)

T = TypeVar("T", StateTypesTable, EventTypesTable, ActionTypesTable)


@dataclass(frozen=True)
class TrialColumns:
    """Per-trial columns added to the trials table.

    Attributes
    ----------
    trial_type
        ``(n_trials,) int64``.
    trial_type_name, outcome, alignment
        ``(n_trials,)`` str.
    """

    trial_type: np.ndarray
    trial_type_name: np.ndarray
    outcome: np.ndarray
    alignment: np.ndarray


def add_bpod(
    nwbfile: NWBFile,
    bpod: BpodSession,
    to_reference: Callable[[np.ndarray], np.ndarray],
    columns: TrialColumns,
    actions: Mapping[str, str],
    clock_description: str = "",
) -> TrialsTable:
    """Add task definition, task recording and trials of ``bpod`` to ``nwbfile``."""
    _check_lengths(bpod, columns)
    state_types = _names_table(
        StateTypesTable,
        "state_name",
        "Names of the Bpod states of this session.",
        "Name of the state.",
        bpod.state_names,
    )
    event_types = _names_table(
        EventTypesTable,
        "event_name",
        "Names of the Bpod events of this session.",
        "Name of the event.",
        bpod.event_names,
    )
    action_names = sorted(set(actions.values()))
    action_types = _names_table(
        ActionTypesTable,
        "action_name",
        "Actions, each tied to a Bpod state by the session metadata [bpod.actions].",
        "Name of the action.",
        action_names,
    )
    task = Task(
        event_types=event_types,
        state_types=state_types,
        action_types=action_types,
        task_arguments=task_arguments_table(bpod.settings),
    )
    nwbfile.add_lab_meta_data(task)

    state_order = np.lexsort((bpod.state_start_s, bpod.state_trial_idx))
    event_order = np.lexsort((bpod.event_time_s, bpod.event_trial_idx))
    states = _states_table(bpod, state_order, state_types, to_reference, clock_description)
    events = _events_table(bpod, event_order, event_types, to_reference, clock_description)
    action_rows, actions_table = _actions_table(
        bpod, state_order, actions, action_names, action_types, to_reference
    )
    with warnings.catch_warnings():
        # The type tables live in lab_meta_data/task: they share the NWBFile as ancestor once
        # the recording is added, but hdmf checks before that and warns.
        warnings.filterwarnings("ignore", message=".*does not share an ancestor.*")
        recording = TaskRecording(events=events, states=states, actions=actions_table)
        nwbfile.add_acquisition(recording)

    n = bpod.n_trials
    trials = TrialsTable(
        description=(
            f"{n} Bpod trials from {', '.join(p.name for p in bpod.source_files)}; start/stop and "
            f"every referenced time on the reference clock. {clock_description}"
        ).strip(),
        states_table=states,
        events_table=events,
        actions_table=actions_table,
        columns=[
            VectorData(
                name="start_time",
                description="Trial start on the reference clock (s).",
                data=np.asarray(to_reference(bpod.trial_start_s), dtype=np.float64),
            ),
            VectorData(
                name="stop_time",
                description="Trial end on the reference clock (s).",
                data=np.asarray(to_reference(bpod.trial_end_s), dtype=np.float64),
            ),
            *_ragged("states", bpod.state_trial_idx[state_order], n, states, "State visits"),
            *_ragged("events", bpod.event_trial_idx[event_order], n, events, "Events"),
            *_ragged("actions", action_rows, n, actions_table, "Actions"),
        ],
        id=row_ids(n),
    )
    trials.add_column(
        name="trial_type",
        description="Bpod TrialTypes value of the trial.",
        data=np.asarray(columns.trial_type, dtype=np.int64),
    )
    trials.add_column(
        name="trial_type_name",
        description="Name of the trial type from metadata [bpod.trial_type_names].",
        data=[str(v) for v in columns.trial_type_name],
    )
    trials.add_column(
        name="outcome",
        description="Outcome: first metadata [[bpod.outcomes]] rule whose state was visited.",
        data=[str(v) for v in columns.outcome],
    )
    trials.add_column(
        name="alignment",
        description=(
            "How the trial was put on the reference clock: matched (its sync pulse was found), "
            "interpolated or extrapolated (through the fitted clock model), unaligned."
        ),
        data=[str(v) for v in columns.alignment],
    )
    nwbfile.trials = trials
    return trials


def _names_table(
    table_type: type[T], column: str, description: str, column_description: str, names: Any
) -> T:
    """A type table (one name per row) built from a typed text column.

    The schema requires every type table, even one without rows (no ``[bpod.actions]``, a
    session without events); ``add_row`` would leave an empty table with an untyped column that
    hdmf cannot write, so the column is a ``str`` array also when it has no element.
    """
    names = np.array(list(names), dtype=np.str_)
    return table_type(
        description=description,
        columns=[VectorData(name=column, description=column_description, data=names)],
        id=row_ids(names.size),
    )


def _check_lengths(bpod: BpodSession, columns: TrialColumns) -> None:
    for name in ("trial_type", "trial_type_name", "outcome", "alignment"):
        found = np.asarray(getattr(columns, name)).shape[0]
        if found != bpod.n_trials:
            raise SyncError(
                f"trials: column '{name}' has {found} values, Bpod session "
                f"{[p.name for p in bpod.source_files]} has {bpod.n_trials} trials",
                hint="compute one value per Bpod trial",
            )


def _mapped(to_reference: Callable[[np.ndarray], np.ndarray], times_s: np.ndarray) -> np.ndarray:
    mapped = np.asarray(to_reference(np.asarray(times_s, dtype=np.float64)), dtype=np.float64)
    if mapped.shape != np.shape(times_s):
        raise SyncError(
            f"to_reference returned shape {mapped.shape} for input shape {np.shape(times_s)}",
            hint="the Bpod clock mapping must be vectorised and shape-preserving",
        )
    return mapped


def _states_table(
    bpod: BpodSession,
    order: np.ndarray,
    state_types: StateTypesTable,
    to_reference: Callable[[np.ndarray], np.ndarray],
    clock_description: str,
) -> StatesTable:
    return StatesTable(
        description=(
            "Every Bpod state visit (repeated visits are separate rows), by trial and time; "
            f"times on the reference clock. {clock_description}"
        ).strip(),
        state_types_table=state_types,
        columns=[
            VectorData(
                name="start_time",
                description="State entry (s).",
                data=_mapped(to_reference, bpod.state_start_s[order]),
            ),
            VectorData(
                name="stop_time",
                description="State exit (s).",
                data=_mapped(to_reference, bpod.state_stop_s[order]),
            ),
            DynamicTableRegion(
                name="state_type",
                description="Row of the state_types table naming the state.",
                data=np.asarray(bpod.state_name_idx[order], dtype=np.int64),
                table=state_types,
            ),
        ],
        id=row_ids(order.size),
    )


def _events_table(
    bpod: BpodSession,
    order: np.ndarray,
    event_types: EventTypesTable,
    to_reference: Callable[[np.ndarray], np.ndarray],
    clock_description: str,
) -> EventsTable:
    name_idx = np.asarray(bpod.event_name_idx[order], dtype=np.int64)
    return EventsTable(
        name="events",
        description=(
            f"Bpod events (port/wire/timer events), ordered by trial and time. {clock_description}"
        ).strip(),
        source_description="Bpod state machine",
        columns=[
            TimestampVectorData(
                name="timestamp",
                description="Event time on the reference clock (s).",
                data=_mapped(to_reference, bpod.event_time_s[order]),
            ),
            DynamicTableRegion(
                name="event_type",
                description="Row of the event_types table naming the event.",
                data=name_idx,
                table=event_types,
            ),
            VectorData(
                name="value",
                description="Name of the event.",
                data=np.asarray(bpod.event_names, dtype=np.str_)[name_idx],
            ),
        ],
        id=row_ids(name_idx.size),
    )


def _actions_table(
    bpod: BpodSession,
    state_order: np.ndarray,
    actions: Mapping[str, str],
    action_names: list[str],
    action_types: ActionTypesTable,
    to_reference: Callable[[np.ndarray], np.ndarray],
) -> tuple[np.ndarray, ActionsTable]:
    """Actions (visits of mapped states) and the trial index of each row."""
    visit_state = np.asarray(bpod.state_name_idx[state_order])
    state_action = np.array(
        [action_names.index(actions[s]) if s in actions else -1 for s in bpod.state_names],
        dtype=np.int64,
    )
    action_of_visit = state_action[visit_state] if visit_state.size else np.zeros(0, dtype=np.int64)
    rows = state_order[action_of_visit >= 0]
    start = _mapped(to_reference, bpod.state_start_s[rows])
    stop = _mapped(to_reference, bpod.state_stop_s[rows])
    table = ActionsTable(
        description="Actions: visits of the Bpod states mapped to an action; times in seconds.",
        action_types_table=action_types,
        columns=[
            VectorData(
                name="timestamp",
                description="Action onset = state entry on the reference clock (s).",
                data=start,
            ),
            VectorData(name="duration", description="State duration (s).", data=stop - start),
            DynamicTableRegion(
                name="action_type",
                description="Row of the action_types table naming the action.",
                data=action_of_visit[action_of_visit >= 0],
                table=action_types,
            ),
            VectorData(
                name="value",
                description="Bpod state that produced the action.",
                data=np.array(
                    [bpod.state_names[k] for k in bpod.state_name_idx[rows]], dtype=np.str_
                ),
            ),
        ],
        id=row_ids(rows.size),
    )
    return np.asarray(bpod.state_trial_idx[rows], dtype=np.int64), table


def _ragged(
    name: str, trial_of_row: np.ndarray, n_trials: int, table: Any, what: str
) -> tuple[DynamicTableRegion, VectorIndex]:
    """A ragged trial -> rows reference; rows of each trial must be contiguous and ordered."""
    trial_of_row = np.asarray(trial_of_row, dtype=np.int64)
    if trial_of_row.size and np.any(np.diff(trial_of_row) < 0):
        raise SyncError(f"{name}: rows are not grouped by trial", hint="this is a bug; report it")
    counts = np.bincount(trial_of_row, minlength=n_trials)[:n_trials]
    region = DynamicTableRegion(
        name=name,
        description=f"{what} of each trial (rows of the {table.name} table).",
        data=np.arange(trial_of_row.size, dtype=np.int64),
        table=table,
    )
    index = VectorIndex(
        name=f"{name}_index", data=np.cumsum(counts).astype(np.int64), target=region
    )
    return region, index


# --------------------------------------------------------------------------------------------
# task arguments


def argument_expression(value: Any) -> tuple[str, str]:
    """``(expression, type)`` of a setting; type is array, integer, float, boolean or string."""
    if isinstance(value, bool | np.bool_):
        return ("true" if value else "false"), "boolean"
    if isinstance(value, int | np.integer):
        return str(int(value)), "integer"
    if isinstance(value, float | np.floating):
        return repr(float(value)), "float"
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return argument_expression(value.item())
        return json.dumps(value.tolist()), "array"
    if isinstance(value, list | tuple):
        return json.dumps(list(value), default=str), "array"
    return str(value), "string"


def task_arguments_table(settings: Mapping[str, Any]) -> TaskArgumentsTable | None:
    """Bpod ``Settings`` (any nesting) as a ``TaskArgumentsTable``; None when there are none."""
    flat = flatten_settings(settings)  # the reader already flattens; nested input stays valid
    if not flat:
        return None
    table = TaskArgumentsTable(description="Bpod session settings (SessionData.Settings).")
    for name, value in flat.items():
        expression, kind = argument_expression(value)
        table.add_row(
            argument_name=name,
            argument_description="Bpod session setting",
            expression=expression,
            expression_type=kind,
            output_type=kind,
        )
    return table
