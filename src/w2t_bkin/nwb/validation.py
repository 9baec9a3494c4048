"""Validate a written NWB file: PyNWB schema validation plus nwbinspector best-practice checks.

Two layers, as DANDI applies them:

1. ``pynwb.validate``: does the file follow the NWB schema? Every schema error becomes a
   ``CRITICAL`` finding with ``check_name = "pynwb_validation"``.
2. nwbinspector: best practices, with the importance levels of the chosen configuration. With
   ``config="dandi"`` the subject checks DANDI requires (subject_id, species, sex, age) are
   ``CRITICAL``.

A report is *clean* when it has no finding of importance ``CRITICAL``, ``PYNWB_VALIDATION`` or
``ERROR`` (``ERROR`` means nwbinspector could not read the file). Only those levels block a DANDI
upload; ``BEST_PRACTICE_*`` findings are advice. ``exit_code`` is 0 for a clean report and 1
otherwise.

A check that raises inside nwbinspector says nothing about the data: nwbinspector reports it as
an ``ERROR`` whose check name is ``During evaluation of '<check>' - <class ...>: <text>`` and whose
message is the traceback. Such a message becomes a ``CHECK_NOT_RUN`` finding (not blocking) named
after the check, with the one-line message ``nwbinspector could not run check <check>: <error>``;
the traceback goes to the run's ``pipeline.log`` only (the DEBUG log outside a session run).
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from w2t_bkin.errors import IngestError, NWBValidationError
from w2t_bkin.io_utils import atomic_write_json
from w2t_bkin.runtime.capture import current_run

log = logging.getLogger(__name__)

InspectorConfigName = Literal["dandi", "default"]

CHECK_NOT_RUN = "CHECK_NOT_RUN"
"""Importance of a finding that reports an nwbinspector check crashing (not nwbinspector's own)."""

IMPORTANCE_ORDER: tuple[str, ...] = (
    "ERROR",
    "PYNWB_VALIDATION",
    "CRITICAL",
    CHECK_NOT_RUN,
    "BEST_PRACTICE_VIOLATION",
    "BEST_PRACTICE_SUGGESTION",
)
"""Importance levels, most severe first: nwbinspector's, plus :data:`CHECK_NOT_RUN`."""

BLOCKING_IMPORTANCES = frozenset({"ERROR", "PYNWB_VALIDATION", "CRITICAL"})
"""Importance levels that make a report unclean (they block a DANDI upload)."""

PYNWB_CHECK_NAME = "pynwb_validation"
READ_ERROR_CHECK_NAME = "nwbinspector_read_error"

# nwbinspector 0.7 names a check that raised f"During evaluation of '{name}' - {type(exc)}: {exc}"
_CHECK_CRASH = re.compile(
    r"During evaluation of '(?P<check>[^']+)' - <class '(?P<exc>[^']+)'>:? ?(?P<text>.*)\Z",
    re.DOTALL,
)

__all__ = [
    "BLOCKING_IMPORTANCES",
    "CHECK_NOT_RUN",
    "IMPORTANCE_ORDER",
    "ValidationReport",
    "blocking_hint",
    "raise_for_blocking",
    "validate_nwb",
    "write_validation_json",
]


@dataclass(frozen=True)
class ValidationReport:
    """Findings of :func:`validate_nwb` for one file.

    Attributes
    ----------
    path
        The validated file.
    config
        nwbinspector configuration used (``"dandi"`` or ``"default"``).
    findings
        One dict per finding with keys ``importance``, ``severity``, ``check_name``,
        ``message``, ``object_type``, ``object_name``, ``location`` (strings or ``None``),
        most severe first.
    counts
        Number of findings per importance name; every level of :data:`IMPORTANCE_ORDER` is
        present (0 when none).
    nwbinspector_version
        Version of nwbinspector that produced the findings.
    """

    path: Path
    config: str
    findings: tuple[dict[str, str | None], ...]
    counts: Mapping[str, int]
    nwbinspector_version: str | None = None

    @property
    def is_clean(self) -> bool:
        """No ``CRITICAL``, ``PYNWB_VALIDATION`` or ``ERROR`` finding."""
        return not self.blocking_findings

    @property
    def blocking_findings(self) -> tuple[dict[str, str | None], ...]:
        return tuple(f for f in self.findings if f["importance"] in BLOCKING_IMPORTANCES)

    @property
    def exit_code(self) -> int:
        """0 when clean, 1 when any blocking finding exists (what ``w2t-bkin validate`` returns)."""
        return 0 if self.is_clean else 1

    def check_names(self) -> set[str]:
        return {str(f["check_name"]) for f in self.findings}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the content of ``validation.json``)."""
        return {
            "path": str(self.path),
            "config": self.config,
            "nwbinspector_version": self.nwbinspector_version,
            "is_clean": self.is_clean,
            "exit_code": self.exit_code,
            "counts": dict(self.counts),
            "findings": [dict(f) for f in self.findings],
        }


def validate_nwb(
    path: str | os.PathLike[str],
    *,
    config: InspectorConfigName = "dandi",
    use_loaded_namespaces: bool = False,
) -> ValidationReport:
    """Run PyNWB schema validation and nwbinspector on an NWB (HDF5) file.

    Parameters
    ----------
    path
        The NWB file.
    config
        ``"dandi"`` applies nwbinspector's DANDI importance configuration (subject metadata
        checks become CRITICAL); ``"default"`` uses each check's own importance.
    use_loaded_namespaces
        For a file this process has just written: validate against the schemas already loaded
        here when the file caches the same namespaces at the same versions, and read it once for
        both validators. Loading the file's cached schemas again takes seconds and gives the same
        schemas; a file caching any other namespace or version is validated the full way.

    Returns
    -------
    ValidationReport

    Raises
    ------
    IngestError
        The file is missing, not HDF5, or an HDF5 file that is not NWB.
    ValueError
        ``config`` is not ``"dandi"`` or ``"default"``.
    """
    if config not in ("dandi", "default"):
        raise ValueError(f"config must be 'dandi' or 'default', not {config!r}")
    path = Path(path)
    _require_nwb_hdf5(path)

    import nwbinspector

    inspector_config = nwbinspector.load_config("dandi") if config == "dandi" else None
    # Reading an older file makes pynwb/hdmf warn (deprecated fields, cached namespaces). The
    # findings must not depend on the caller's warning filters: under "error" filters (pytest,
    # python -W error) those warnings would abort the read and turn into ERROR findings. Record
    # them instead, and restore the filters nwbinspector changes globally.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quick = (
            _validate_with_loaded_namespaces(path, inspector_config)
            if use_loaded_namespaces
            else None
        )
        if quick is not None:
            findings = quick
        else:
            findings = _pynwb_findings(path)
            # skip_validate: pynwb.validate already ran above, under our own check name.
            messages = nwbinspector.inspect_nwbfile(
                nwbfile_path=path, skip_validate=True, config=inspector_config
            )
            findings += [_inspector_finding(message, path) for message in messages]
    for message in dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught):
        log.debug("while validating %s: %s", path, message)

    findings.sort(key=_finding_sort_key)
    report = ValidationReport(
        path=path,
        config=config,
        findings=tuple(findings),
        counts=_count(findings),
        nwbinspector_version=getattr(nwbinspector, "__version__", None),
    )
    log.info(
        "validated %s (%s): %s",
        path,
        config,
        ", ".join(f"{n} {name}" for name, n in report.counts.items() if n) or "no findings",
    )
    return report


def write_validation_json(report: ValidationReport, path: str | os.PathLike[str]) -> Path:
    """Write ``report.to_dict()`` atomically as JSON (``validation.json``)."""
    return atomic_write_json(path, report.to_dict())


def raise_for_blocking(report: ValidationReport, *, kept_at: Path | None = None) -> None:
    """Raise :class:`NWBValidationError` when ``report`` is not clean.

    The message lists up to five blocking findings and the hint says what to do about each of
    them (:func:`blocking_hint`); use it when ``finalization.fail_on_critical`` is true.
    ``kept_at`` is where the session pipeline moved the failing file (``<name>.invalid.nwb``,
    never the output path); the message names it.
    """
    blocking = report.blocking_findings
    if not blocking:
        return
    shown = "\n".join(
        f"  - [{f['importance']}] {f['check_name']} at {f['location'] or '/'}: {f['message']}"
        for f in blocking[:5]
    )
    more = f"\n  ... and {len(blocking) - 5} more" if len(blocking) > 5 else ""
    path = kept_at if kept_at is not None else report.path
    kept = (
        f"\n  the file was kept as {kept_at} for inspection; nothing was written at the output path"
        if kept_at is not None
        else ""
    )
    raise NWBValidationError(
        f"{path}: {len(blocking)} blocking validation finding(s) "
        f"(expected none of {sorted(BLOCKING_IMPORTANCES)}):\n{shown}{more}{kept}",
        hint=blocking_hint(blocking[:5]),
        path=path,
    )


_REPORT_BUG = "report it with validation.json and pipeline.log"
_SUBJECT_HINT = (
    "add or complete the [subject] table of subject.toml (fields named above) and re-run"
)
_METADATA_HINTS: dict[str, str] = {
    "check_session_id_no_slashes": "remove the '/' from session_id in session.toml and re-run",
    "check_session_start_time_future_date": (
        "correct session_start_time in session.toml (it lies in the future) and re-run"
    ),
}


def blocking_hint(findings: Iterable[Mapping[str, str | None]]) -> str:
    """What to do about ``findings`` (blocking ones of a file w2t-bkin wrote), one clause each.

    Subject checks point at ``subject.toml``, session checks at ``session.toml``; a schema error,
    an unreadable file or any other check is about what w2t-bkin wrote, so its clause names the
    check and says that it is a w2t-bkin bug when the raw data are right. The hint ends with the
    way to publish the file anyway.
    """
    clauses: dict[str, None] = {}  # ordered and unique
    for finding in findings:
        clauses[_finding_hint(finding)] = None
    clauses[
        "or set finalization.fail_on_critical = false to publish the file at the output path "
        "anyway (validation.json keeps the findings)"
    ] = None
    return "; ".join(clauses)


def _finding_hint(finding: Mapping[str, str | None]) -> str:
    check = str(finding["check_name"])
    if check.startswith("check_subject_"):
        return _SUBJECT_HINT
    if check in _METADATA_HINTS:
        return _METADATA_HINTS[check]
    if check == PYNWB_CHECK_NAME:
        return f"a file w2t-bkin wrote that breaks the NWB schema is a w2t-bkin bug: {_REPORT_BUG}"
    if check == READ_ERROR_CHECK_NAME:
        return (
            "pynwb could not read the written file back: a w2t-bkin bug unless the disk is full "
            f"or failing; {_REPORT_BUG}"
        )
    where = finding["location"] or "/"
    return (
        f"check {check} concerns the data written at {where}: if the raw data behind it are "
        f"right, this is a w2t-bkin bug; {_REPORT_BUG}"
    )


# --------------------------------------------------------------------------------------------


def _require_nwb_hdf5(path: Path) -> None:
    import h5py

    if not path.is_file():
        raise IngestError(
            f"NWB file not found: {path}", hint="check the path; the file must exist", path=path
        )
    if not h5py.is_hdf5(path):
        raise IngestError(
            f"{path} is not an HDF5 file, so it cannot be an NWB file "
            f"(size {path.stat().st_size} bytes)",
            hint="pass the .nwb file written by w2t-bkin, not another output",
            path=path,
        )
    try:
        with h5py.File(path, "r") as handle:
            nwb_version = handle.attrs.get("nwb_version")
    except OSError as exc:
        raise IngestError(
            f"cannot open {path} as HDF5: {exc}",
            hint="the file may be truncated or still being written",
            path=path,
        ) from exc
    if nwb_version is None:
        raise IngestError(
            f"{path} is HDF5 but not NWB: the root group has no 'nwb_version' attribute",
            hint="pass the .nwb file written by w2t-bkin, not another HDF5 file",
            path=path,
        )


def _validate_with_loaded_namespaces(
    path: Path, inspector_config: dict[str, Any] | None
) -> list[dict[str, str | None]] | None:
    """Both validators in one read, against the schemas loaded in this process.

    ``None`` when that is not the same as validating against the file's cached schemas (a
    namespace or version this process has not loaded) or when anything fails: the caller then
    runs the full path, which also turns a read failure into its finding.
    """
    import h5py
    import nwbinspector
    import pynwb

    catalog = pynwb.get_type_map().namespace_catalog
    try:
        with h5py.File(path, "r") as handle:
            cached = {
                name: sorted(group.keys())
                for name, group in handle.get("specifications", {}).items()
            }
    except OSError:
        return None
    loaded = set(catalog.namespaces)
    for name, versions in cached.items():
        if name not in loaded or versions != [catalog.get_namespace(name).version]:
            return None
    # As pynwb.validate: each cached namespace not included by another, hdmf-experimental aside.
    included = {
        item["namespace"]
        for name in cached
        for item in catalog.get_namespace(name)["schema"]
        if "namespace" in item
    }
    to_validate = sorted(set(cached) - included - {"hdmf-experimental"}) or ["core"]
    try:
        with pynwb.NWBHDF5IO(str(path), mode="r", load_namespaces=False) as io:
            builder = io.read_builder()
            errors = []
            for name in to_validate:
                errors += _validator_map(catalog.get_namespace(name)).validate(builder)
            nwbfile = io.read()
            messages = list(
                nwbinspector.inspect_nwbfile_object(nwbfile_object=nwbfile, config=inspector_config)
            )
    except Exception:  # the full path reports it, with the finding it deserves
        log.debug("quick validation of %s failed; validating the full way", path, exc_info=True)
        return None
    findings = _schema_findings(errors)
    return findings + [_inspector_finding(message, path) for message in messages if message]


_VALIDATOR_MAPS: dict[int, tuple[Any, Any]] = {}
"""hdmf validator maps by the id of the namespace they were built from, with that namespace
(held here, so its id names no other object): building one takes 20 ms, and a worker validates
every session against the same. (A namespace is a dict: it cannot be a key itself.)"""


def _validator_map(namespace: Any) -> Any:
    """An hdmf ``ValidatorMap`` of ``namespace`` (a loaded one: the same object each session).
    Its validators keep no state between validations, so one serves every file."""
    from hdmf.validate import ValidatorMap

    if id(namespace) not in _VALIDATOR_MAPS:
        _VALIDATOR_MAPS[id(namespace)] = (namespace, ValidatorMap(namespace))
    return _VALIDATOR_MAPS[id(namespace)][1]


def _pynwb_findings(path: Path) -> list[dict[str, str | None]]:
    import pynwb

    try:
        errors = pynwb.validate(path=str(path))
    except Exception as exc:  # any failure of the validator itself is a blocking finding
        log.debug("pynwb.validate failed on %s", path, exc_info=True)
        return [
            _finding(
                "CRITICAL",
                "HIGH",
                PYNWB_CHECK_NAME,
                f"schema validation could not run: {type(exc).__name__}: {exc}",
            )
        ]
    return _schema_findings(errors)


def _schema_findings(errors: Iterable[Any]) -> list[dict[str, str | None]]:
    """pynwb/hdmf validation errors as findings, each once."""
    findings = [
        _finding(
            "CRITICAL",
            "HIGH",
            PYNWB_CHECK_NAME,
            str(getattr(error, "reason", error)),
            object_name=getattr(error, "name", None),
            location=getattr(error, "location", None),
        )
        for error in errors
    ]
    # pynwb reports an error once per loaded namespace that defines the type; keep one.
    unique = {tuple(sorted((k, str(v)) for k, v in f.items())): f for f in findings}
    return list(unique.values())


def _inspector_finding(message: Any, path: Path) -> dict[str, str | None]:
    importance = message.importance.name
    check_name = message.check_function_name or "unknown_check"
    text = str(message.message)
    crash = _CHECK_CRASH.match(check_name) if importance == "ERROR" else None
    if crash is not None:
        # A check that raised: its traceback (the message) is for developers, in the log only.
        check_name = crash["check"]
        _log_only("nwbinspector check %s raised while validating %s:\n%s", check_name, path, text)
        importance = CHECK_NOT_RUN
        text = f"nwbinspector could not run check {check_name}: {_one_line(crash)}"
    elif importance == "ERROR" and check_name.startswith("During io.read()"):
        # nwbinspector puts the explanation in the check name and the traceback in the message;
        # keep the explanation and the exception line, not the whole traceback.
        _log_only("nwbinspector could not read %s:\n%s", path, text)
        last_line = text.strip().splitlines()[-1] if text.strip() else ""
        text = f"{check_name} {last_line}".strip()
        check_name = READ_ERROR_CHECK_NAME
    return _finding(
        importance,
        message.severity.name,
        check_name,
        text,
        object_type=message.object_type,
        object_name=message.object_name,
        location=message.location,
    )


def _one_line(crash: re.Match[str]) -> str:
    """``"IndexError: <first line of the exception text>"`` of a crashed check."""
    exception = crash["exc"].rsplit(".", 1)[-1]
    lines = crash["text"].strip().splitlines()
    return f"{exception}: {lines[0].strip()}" if lines else exception


def _log_only(msg: str, *args: object) -> None:
    """A record for ``pipeline.log`` only: inside a session run it bypasses the console."""
    run = current_run()
    if run is not None:
        run.write(logging.INFO, msg, *args)
    else:
        log.debug(msg, *args)


def _finding(
    importance: str,
    severity: str,
    check_name: str,
    message: str,
    *,
    object_type: str | None = None,
    object_name: str | None = None,
    location: str | None = None,
) -> dict[str, str | None]:
    return {
        "importance": importance,
        "severity": severity,
        "check_name": check_name,
        "message": message,
        "object_type": object_type,
        "object_name": object_name,
        "location": location or None,
    }


def _finding_sort_key(finding: Mapping[str, str | None]) -> tuple[int, int, str, str]:
    importance = str(finding["importance"])
    rank = IMPORTANCE_ORDER.index(importance) if importance in IMPORTANCE_ORDER else 99
    return (
        rank,
        0 if finding["severity"] == "HIGH" else 1,
        str(finding["check_name"]),
        str(finding["location"] or ""),
    )


def _count(findings: Iterable[Mapping[str, str | None]]) -> dict[str, int]:
    counts = dict.fromkeys(IMPORTANCE_ORDER, 0)
    for finding in findings:
        key = str(finding["importance"])
        counts[key] = counts.get(key, 0) + 1
    return counts
