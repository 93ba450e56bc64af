"""Salesforce ids: 18-character checksums, validation, deterministic generation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulators.salesforce.ids import BASE62, make_id, normalize, to18

id15 = st.text(alphabet=BASE62, min_size=15, max_size=15)


@pytest.mark.parametrize("short,full", [("001D000000IqhSL", "001D000000IqhSLIAZ"),
                                        ("003RO0000035WQg", "003RO0000035WQgYAM"),
                                        ("00190000001pPvH", "00190000001pPvHAAU")])
def test_documented_ids(short, full):
    assert to18(short) == full and to18(full) == full


@given(id15)
def test_round_trip(value):
    full = to18(value)
    assert len(full) == 18 and full[:15] == value and to18(full) == full
    assert to18(full[:15] + full[15:].lower()) == full  # the suffix is case-insensitive


@given(id15)
def test_case_matters_in_the_suffix(value):
    # Ids differing only in case are different records: flipping any letter changes a check character.
    if any(c.isalpha() for c in value):
        assert to18(value.swapcase())[15:] != to18(value)[15:]


@pytest.mark.parametrize("bad", ["", "001", "001D000000IqhS!", "001D000000IqhSLIA", "001D000000IqhSLZZZ", None, 5])
def test_malformed(bad):
    assert normalize(bad) is None


def test_generation_is_deterministic():
    assert make_id("00Q", 1) == make_id("00Q", 1)
    assert make_id("00Q", 1) != make_id("00Q", 2)
    assert make_id("00Q", 61)[:15] < make_id("00Q", 62)[:15]
    assert to18(make_id("001", 123456)[:15]) == make_id("001", 123456)
