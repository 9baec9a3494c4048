"""Creating subjects and sessions: names split by one rule, times never guessed."""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from w2t_bkin.errors import MetadataError
from w2t_bkin.workspace.create import (
    ExperimentInfo,
    add_session,
    add_subject,
    init_workspace,
    session_start_time,
    split_names,
)

PLUS_ONE = timezone(timedelta(hours=1))

# Every test runs on a machine in America/New_York (-05:00 in winter): no value may take it.
pytestmark = pytest.mark.usefixtures("new_york")


@pytest.mark.parametrize(
    ("text", "people"),
    [
        ("", []),
        ("Doe, Jane", ["Doe, Jane"]),  # NWB's "Last, First": one person
        ("Doe,Jane", ["Doe, Jane"]),
        ("Doe, J.", ["Doe, J."]),
        ("Jane Doe", ["Jane Doe"]),
        ("Jane Doe, Rick Roe", ["Jane Doe", "Rick Roe"]),  # every part a full name
        ("Doe, Jane; Roe, Rick", ["Doe, Jane", "Roe, Rick"]),  # ';' always separates people
        ("Alice; Bob; Carol", ["Alice", "Bob", "Carol"]),
        ("van der Berg, Anna;", ["van der Berg, Anna"]),  # a final ';' marks one person
        (" Doe ,  Jane ; ", ["Doe, Jane"]),
    ],
)
def test_split_names_rule(text: str, people: list[str]) -> None:
    assert split_names(text) == people


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        (
            "Doe, Jane, Roe, Rick",
            "separate people with ';', each written 'Last, First', e.g. 'Doe, Jane; Roe, Rick'",
        ),
        (
            "Alice, Bob, Carol",
            "separate people with ';', each written 'Last, First', e.g. 'Alice; Bob; Carol'",
        ),
        (
            "van der Berg, Anna",
            "write one person in 'Last, First' form with a final ';': 'van der Berg, Anna;', "
            "or separate two people with ';': 'van der Berg; Anna'",
        ),
    ],
)
def test_ambiguous_names_are_refused_with_the_unambiguous_spelling(text: str, hint: str) -> None:
    with pytest.raises(MetadataError) as info:
        split_names(text, "--experimenter")
    assert info.value.message == (
        f"ambiguous --experimenter {text!r}: its commas could separate people or a last name "
        "from a first name"
    )
    assert info.value.hint == hint
    assert info.value.exit_code == 2


def test_a_person_with_two_commas_is_refused() -> None:
    with pytest.raises(MetadataError, match="'Doe, Jane, Roe' holds more than one comma"):
        split_names("Doe, Jane, Roe; Lee, Ann")


@pytest.mark.parametrize(
    ("day", "start", "offset", "expected"),
    [
        (date(2026, 1, 2), "13:45+01:00", None, datetime(2026, 1, 2, 13, 45, tzinfo=PLUS_ONE)),
        (date(2026, 1, 2), "13:45", "+01:00", datetime(2026, 1, 2, 13, 45, tzinfo=PLUS_ONE)),
        (None, "2026-01-02T13:45:10Z", None, datetime(2026, 1, 2, 13, 45, 10, tzinfo=UTC)),
        (None, "2026-01-02T13:45", "+01:00", datetime(2026, 1, 2, 13, 45, tzinfo=PLUS_ONE)),
        (None, None, None, None),  # nothing given: nothing stored
    ],
)
def test_session_start_time_keeps_the_offset_given(
    day: date | None, start: str | None, offset: str | None, expected: datetime | None
) -> None:
    parsed = session_start_time(day, start, offset)
    assert parsed == expected
    if expected is not None:
        assert parsed is not None and parsed.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    ("day", "start", "offset", "message"),
    [
        (
            date(2026, 1, 2),
            None,
            None,
            "--date 2026-01-02 has no --start-time: w2t-bkin does not invent the time of day",
        ),
        (None, "13:45+01:00", None, "--start-time '13:45+01:00' has no date"),
        (
            date(2026, 1, 2),
            "13:45",
            None,
            "--start-time '13:45' has no UTC offset; w2t-bkin does not guess the time zone "
            "(this machine's zone would make the file depend on where it was made)",
        ),
        (None, "2026-01-02", "+01:00", "--start-time '2026-01-02' is a date without a time of day"),
        (
            date(2026, 1, 3),
            "2026-01-02T13:45Z",
            None,
            "--start-time '2026-01-02T13:45Z' is on 2026-01-02, but --date is 2026-01-03",
        ),
        (
            date(2026, 1, 2),
            "13:45+02:00",
            "+01:00",
            "--start-time '13:45+02:00' carries its own UTC offset, which differs from "
            "--utc-offset +01:00",
        ),
        (
            date(2026, 1, 2),
            "13:45",
            "Berlin",
            "invalid --utc-offset 'Berlin': expected +HH:MM, -HH:MM or Z",
        ),
    ],
)
def test_session_start_time_refuses_to_guess(
    day: date | None, start: str | None, offset: str | None, message: str
) -> None:
    with pytest.raises(MetadataError) as info:
        session_start_time(day, start, offset)
    assert info.value.message == message


@pytest.fixture
def subject_root(tmp_path: Path) -> Path:
    """A workspace with subject ``m1`` (sex F) and no session yet."""
    subject_root = tmp_path / "exp"
    init_workspace(subject_root, ExperimentInfo())
    add_subject(subject_root, "m1", {"sex": "F"})
    return subject_root


def test_add_session_without_a_start_leaves_the_key_out(subject_root: Path) -> None:
    data = tomllib.loads(add_session(subject_root, "m1", "s1").read_text())
    assert "session_start_time" not in data  # `run` then names the file and the key


def test_add_session_stores_the_given_offset_not_the_machines(subject_root: Path) -> None:
    path = add_session(
        subject_root, "m1", "s1", session_date=date(2026, 1, 2), start_time="13:45+01:00"
    )
    start = tomllib.loads(path.read_text())["session_start_time"]
    assert start == datetime(2026, 1, 2, 13, 45, tzinfo=PLUS_ONE)
    assert start.utcoffset() == timedelta(hours=1)


def test_add_session_checks_names_before_creating_the_folder(subject_root: Path) -> None:
    with pytest.raises(MetadataError, match="ambiguous --experimenter 'A, B, C'"):
        add_session(subject_root, "m1", "s1", experimenter="A, B, C")
    assert not (subject_root / "data/raw/m1/s1").exists()


def test_add_subject_date_of_birth_needs_an_offset(subject_root: Path) -> None:
    with pytest.raises(MetadataError) as info:
        add_subject(subject_root, "m2", {"date_of_birth": "2026-01-31"})
    assert info.value.message == (
        "--date-of-birth '2026-01-31' has no UTC offset; w2t-bkin does not guess the time zone "
        "(this machine's zone would make the file depend on where it was made)"
    )
    assert info.value.hint == (
        "give the lab's offset, e.g. --date-of-birth 2026-01-31T00:00+01:00, or add "
        "--utc-offset +01:00"
    )
    assert not (subject_root / "data/raw/m2").exists()
    path = add_subject(subject_root, "m2", {"date_of_birth": "2026-01-31"}, utc_offset="+01:00")
    born = tomllib.loads(path.read_text())["subject"]["date_of_birth"]
    assert born == datetime(2026, 1, 31, tzinfo=PLUS_ONE)
    assert born.utcoffset() == timedelta(hours=1)
