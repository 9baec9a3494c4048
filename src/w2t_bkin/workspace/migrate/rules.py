"""Conversions of upstream values, and the metadata tables that change shape.

Key names, new keys and reasons come from :data:`w2t_bkin.upstream_keys.UPSTREAM_KEYS`; this
module holds only what a table cannot: how a value converts, and the rewrites that regroup
several keys (the legacy ``[session]`` table, ``[[bpod.trial_types]]``, the dict form of
``bpod.sync.trial_types``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from w2t_bkin.metadata import is_iso_duration
from w2t_bkin.upstream_keys import find_upstream_key, split_key
from w2t_bkin.workspace.migrate.rows import MISSING, Conversion, Loc, get_at, set_at


def _policy(value: Any) -> Any:
    return ("warn" if value else "fail") if isinstance(value, bool) else value


def _write_flag(value: Any) -> Any:
    return {"skip": False, "assemble": True, "link": True}.get(value, value)


def _inverted(value: Any) -> Any:
    return (not value) if isinstance(value, bool) else value


def _at_least_two(value: Any) -> Any:
    return max(2, value) if isinstance(value, int) and not isinstance(value, bool) else value


def _log_level(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    return "ERROR" if value.upper() == "CRITICAL" else value.upper()


def _seconds(value: Any) -> Any:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if number else value


def _glob_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _name_order(value: Any) -> Any:
    return {"time_asc": "name_asc", "time_desc": "name_desc"}.get(value, value)


VALUE_CONVERTERS: Final[dict[str, Callable[[Any], Any]]] = {
    "logging.level": _log_level,
    "ingestion.video.mismatch_warn_only": _policy,
    "verification.warn_on_mismatch": _policy,
    "synchronization.robust_min_matches": _at_least_two,
    "synchronization.tolerance": _seconds,
    "synchronization.alignment.tolerance_s": _seconds,
    "assembly.ttls.mode": _write_flag,
    "assembly.behavior.mode": _write_flag,
    "assembly.videos.mode": _write_flag,
    "assembly.pose.mode": _write_flag,
    "finalization.skip_validation": _inverted,
    "video.analysis.frame_count_timeout": _seconds,
    "cameras[].paths": _glob_list,
    "TTLs[].paths": _glob_list,
    "bpod.path": _glob_list,
    "cameras[].order": _name_order,
    "TTLs[].order": _name_order,
    "bpod.order": _name_order,
}
"""Upstream key pattern -> value conversion (keys not listed keep their value)."""


def new_loc(new_key: str) -> Loc:
    """A plain new key (no ``[]`` or ``*``) as a location."""
    return split_key(new_key)


def migrate_legacy_session(conv: Conversion) -> None:
    """The legacy ``[session]`` table: its keys become top-level session and subject keys.

    A key that the file also sets in its new place keeps that value (the new place wins); the
    ``[session]`` value is dropped with the reason.
    """
    table = conv.source.pop("session", MISSING)
    if table is MISSING:
        return
    if not isinstance(table, dict):
        conv.problem(("session",), f"expected the upstream [session] table, found {table!r}")
        return
    for key, value in table.items():
        old: Loc = ("session", key)
        entry = find_upstream_key("metadata", old)
        if entry is None:
            conv.add(old, None, value, None, "not a key of the upstream [session] table")
            continue
        if entry.new_key is None:
            conv.add(old, None, value, None, entry.reason)
            continue
        target = new_loc(entry.new_key)
        new_value = [value] if key == "experimenter" and isinstance(value, str) else value
        if key == "age" and isinstance(value, str) and not is_iso_duration(value):
            conv.add(
                old,
                None,
                value,
                None,
                f"{value!r} is not an ISO-8601 duration; set subject.age yourself, e.g. "
                f"'{value}D' if it counts days",
            )
            continue
        _move_unless_set(conv, old, target, value, new_value, entry.reason)


def _move_unless_set(
    conv: Conversion, old: Loc, target: Loc, value: Any, new_value: Any, reason: str
) -> None:
    existing = get_at(conv.source, target)
    if existing is MISSING:
        existing = get_at(conv.out, target)
    if existing is MISSING:
        set_at(conv.out, target, new_value)
        conv.add(old, target, value, new_value, reason)
    elif existing == new_value:
        conv.add(old, None, value, None, f"same value as {_text(target)}, which is kept")
    else:
        conv.add(old, None, value, None, f"{_text(target)} is set already ({existing!r}) and wins")


def _text(loc: Loc) -> str:
    return ".".join(str(part) for part in loc)


def migrate_trial_types(conv: Conversion) -> None:
    """``bpod.sync.trial_types`` (list or dict form) and legacy ``[[bpod.trial_types]]``.

    All become one ``[[bpod.sync.trial_types]]`` list (the list form first, in file order);
    each ``description`` names its trial type in ``bpod.trial_type_names``.
    """
    bpod = conv.source.get("bpod")
    if not isinstance(bpod, dict):
        return
    rules: list[dict[str, Any]] = []
    sync = bpod.get("sync")
    if isinstance(sync, dict) and "trial_types" in sync:
        _sync_trial_types(conv, sync.pop("trial_types"), rules)
        if not sync:
            del bpod["sync"]
    legacy = bpod.pop("trial_types", MISSING)
    if isinstance(legacy, list):
        for index, item in enumerate(legacy):
            _legacy_trial_type(conv, index, item, rules)
    elif legacy is not MISSING:
        conv.problem(
            ("bpod", "trial_types"), f"expected [[bpod.trial_types]] tables, found {legacy!r}"
        )
    if not bpod:
        del conv.source["bpod"]  # it held only trial types
    if rules:
        set_at(conv.out, ("bpod", "sync", "trial_types"), rules)


def _sync_trial_types(conv: Conversion, value: Any, rules: list[dict[str, Any]]) -> None:
    entry = find_upstream_key("metadata", ("bpod", "sync", "trial_types"))
    reason = entry.reason if entry is not None else ""
    if isinstance(value, list):
        for index, item in enumerate(value):
            new_index = len(rules)
            rules.append(item)
            for key, item_value in item.items() if isinstance(item, dict) else ():
                conv.add(
                    ("bpod", "sync", "trial_types", index, key),
                    ("bpod", "sync", "trial_types", new_index, key),
                    item_value,
                    item_value,
                )
    elif isinstance(value, dict):
        for name, item in value.items():
            old: Loc = ("bpod", "sync", "trial_types", name)
            number = _trial_number(name)
            if number is None or not isinstance(item, dict):
                conv.problem(old, 'expected a table named by an integer trial type, e.g. "1"')
                continue
            has_rule = "sync_signal" in item or "sync_ttl" in item
            target: Loc | None = (
                ("bpod", "sync", "trial_types", len(rules), "trial_type") if has_rule else None
            )
            conv.add(old, target, name, number, reason)
            if "trial_type" in item:
                conv.add(
                    (*old, "trial_type"),
                    None,
                    item["trial_type"],
                    None,
                    "the table's name gives the trial type",
                )
            rule_keys = {key: v for key, v in item.items() if key != "trial_type"}
            _add_rule(conv, old, rule_keys, rules, reason, number)
    else:
        conv.problem(("bpod", "sync", "trial_types"), f"expected a list of tables, found {value!r}")


def _legacy_trial_type(
    conv: Conversion, index: int, item: Any, rules: list[dict[str, Any]]
) -> None:
    old: Loc = ("bpod", "trial_types", index)
    if not isinstance(item, dict):
        conv.problem(old, f"expected a table, found {item!r}")
        return
    number = _trial_number(item.get("trial_type"))
    if number is None:
        conv.problem(old, "no integer trial_type; add it (e.g. trial_type = 1), then rerun")
        return
    _add_rule(conv, old, item, rules, None, number)


def _add_rule(
    conv: Conversion,
    old: Loc,
    item: dict[str, Any],
    rules: list[dict[str, Any]],
    reason: str | None,
    number: int,
) -> None:
    """One sync rule (``trial_type``, ``sync_signal``, ``sync_ttl``) and its description."""
    sync_keys = [key for key in ("sync_signal", "sync_ttl") if key in item]
    new_index = len(rules)
    if sync_keys:
        if len(sync_keys) == 1:
            missing = {"sync_signal", "sync_ttl"} - set(sync_keys)
            conv.problem(old, f"no {missing.pop()}: a sync rule needs sync_signal and sync_ttl")
        rules.append({"trial_type": number} | {key: item[key] for key in sync_keys})
    for key, value in item.items():
        entry = find_upstream_key("metadata", ("bpod", "trial_types", 0, key))
        why = reason if reason is not None else (entry.reason if entry is not None else "")
        if key == "description":
            _name_trial_type(conv, (*old, key), number, value, why)
        elif key in ("trial_type", "sync_signal", "sync_ttl") and sync_keys:
            new_value = number if key == "trial_type" else value
            target: Loc = ("bpod", "sync", "trial_types", new_index, key)
            conv.add((*old, key), target, value, new_value, why)
        elif key == "trial_type":
            named = "; the number names its description in bpod.trial_type_names"
            conv.add(
                (*old, key),
                None,
                value,
                None,
                "no sync rule (no sync_signal and sync_ttl)"
                + (named if "description" in item else ""),
            )
        else:
            conv.add((*old, key), None, value, None, "not a key of a trial-type rule")


def _name_trial_type(conv: Conversion, old: Loc, number: int, value: Any, reason: str) -> None:
    target: Loc = ("bpod", "trial_type_names", str(number))
    _move_unless_set(conv, old, target, value, value, reason)


def _trial_number(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def note_pose_generation(conv: Conversion) -> None:
    """Report upstream generate-mode pose cameras (``[pose.cameras.<id>]`` without paths).

    Here a camera without paths gets its pose generated only when its model names a backend
    (``[pose.models.<id>] backend = ...``, :mod:`w2t_bkin.session.generate`); upstream metadata
    has no backend key, so the migration says what to add (or which outputs to declare).
    """
    pose = conv.source.get("pose")
    cameras = pose.get("cameras") if isinstance(pose, dict) else None
    if not isinstance(cameras, dict):
        return
    for camera_id, table in cameras.items():
        if not isinstance(table, dict) or table.get("paths"):
            continue
        where: Loc = ("pose", "cameras", camera_id)
        reason = (
            "no paths (upstream generate mode): pose is generated only when the camera's model "
            "names a backend; otherwise declare the existing outputs with paths"
        )
        conv.add(where, where, "(no paths)", "(no paths)", reason)
        conv.notes.append(
            f"pose.cameras.{camera_id} has no paths: upstream generated its pose (or looked "
            f"for it in data/interim/<subject>/<session>/<artifacts>/{camera_id}/). To generate "
            f"it here, give its model a backend: [pose.models.<model_id>] backend = "
            f'"deeplabcut" (or "sleap", "mediapipe"); or link the existing outputs into the '
            f"session (e.g. with `w2t-bkin data import-raw`) and declare them: "
            f'paths = ["Pose/{camera_id}/*.h5"]'
        )


def note_naive_start_time(conv: Conversion) -> None:
    """Report a ``session_start_time`` without a time zone (NWB needs one; it is not guessed)."""
    value = conv.source.get("session_start_time")
    moment = value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return  # the schema check reports an unreadable value
    if isinstance(moment, datetime) and moment.utcoffset() is None:
        conv.notes.append(
            f"session_start_time {value} has no time zone: NWB needs one and `w2t-bkin run` "
            f"refuses it; add the offset of the rig's clock, e.g. "
            f"{moment.isoformat()}+01:00"
        )
