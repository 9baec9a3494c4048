"""Entry keys: injective, reversible, safe as file names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from w2t_bkin.features.errors import FeatureInputError
from w2t_bkin.features.keys import MAX_KEY_BYTES, make_entry_key, natural_key, parse_entry_key

# Runs of "_" (so "__" appears), spaces, "%", separators and any Unicode character.
names = st.lists(
    st.one_of(
        st.sampled_from(["_", "__", " ", "%", ".", "/", "-", "~", "a", "B"]),
        st.characters(codec="utf-8"),
    ),
    max_size=8,
).map("".join)


@given(names, names)
def test_entry_key_round_trips(group: str, sequence: str) -> None:
    key = make_entry_key(group, sequence)
    assert parse_entry_key(key) == (group, sequence)
    assert "/" not in key and "\0" not in key and not key.startswith(".")


@given(names, names, names, names)
def test_entry_keys_are_injective(g1: str, s1: str, g2: str, s2: str) -> None:
    if (g1, s1) != (g2, s2):
        assert make_entry_key(g1, s1) != make_entry_key(g2, s2)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("", "a__b"), ("a", "b")),  # mosaic: both were "a__b.parquet"
        (("a__b", "c"), ("a", "b__c")),
        (("a", " b"), ("a", "b")),  # mosaic stripped whitespace
        (("a_", "_b"), ("a", "__b")),
    ],
)
def test_names_that_collided_in_mosaic_get_distinct_keys(
    a: tuple[str, str], b: tuple[str, str]
) -> None:
    assert make_entry_key(*a) != make_entry_key(*b)
    assert parse_entry_key(make_entry_key(*a)) == a


def test_key_encodes_separators_and_unicode_exactly() -> None:
    assert make_entry_key("m_1", "s 1/top/ü") == "m%5F1__s%201%2Ftop%2F%C3%BC"


def test_too_long_key_is_refused_with_the_limit() -> None:
    with pytest.raises(FeatureInputError, match=f"at most {MAX_KEY_BYTES} bytes"):
        make_entry_key("m", "é" * 60)


def test_foreign_file_name_is_not_parsed() -> None:
    with pytest.raises(FeatureInputError, match="is not an entry key"):
        parse_entry_key("a__b__c")
    with pytest.raises(FeatureInputError, match="is not an entry key"):
        parse_entry_key("a_b__c")


def test_natural_order_puts_s2_before_s10() -> None:
    assert sorted(["s10", "s2", "s1", "a"], key=natural_key) == ["a", "s1", "s2", "s10"]
