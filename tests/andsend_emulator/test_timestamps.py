"""RFC 3339 parsing and formatting used by updated_since, the clock and every stored stamp."""

from __future__ import annotations

import pytest

from emulators.andsend.generator import format_ts, parse_ts
from emulators.andsend.store import stamp_key


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-02T03:04:05Z", "2025-01-02T03:04:05.000Z"),
        ("2025-01-02t03:04:05.5z", "2025-01-02T03:04:05.500Z"),
        ("2025-01-02T05:04:05+02:00", "2025-01-02T03:04:05.000Z"),
        ("2025-01-01T22:04:05.123-05:00", "2025-01-02T03:04:05.123Z"),
        # A sub-millisecond fraction rounds up, so ">= since" never admits an earlier record.
        ("2025-01-02T03:04:05.000001Z", "2025-01-02T03:04:05.001Z"),
    ],
)
def test_parse_then_format(text, expected):
    assert format_ts(parse_ts(text)) == expected


@pytest.mark.parametrize(
    "text", ["yesterday", "2025-01-02", "2025-01-02T03:04:05", "2025-13-02T00:00:00Z", ""]
)
def test_rejects_non_rfc3339(text):
    with pytest.raises(ValueError):
        parse_ts(text)


def test_stamps_are_fixed_width_so_text_order_is_time_order():
    stamps = [format_ts(ms) for ms in (0, 1, 999, 1000, 86_400_000, 1_735_787_045_123)]
    assert len({len(s) for s in stamps}) == 1 and stamps == sorted(stamps)
    assert stamp_key(parse_ts("0001-01-01T00:00:00+23:59")) == "1970-01-01T00:00:00.000Z"
    assert stamp_key(parse_ts("9999-12-31T23:59:59-23:59")) == "9999-12-31T23:59:59.999Z"


def test_updated_since_tolerates_an_unencoded_plus_offset(andsend_emulator):
    import requests

    url = f"{andsend_emulator.base_url}/v1/users?updated_since=2000-01-01T02:00:00+02:00"
    response = requests.get(url, headers={"Authorization": f"Bearer {andsend_emulator.api_key}"}, timeout=10)
    assert response.status_code == 200 and len(response.json()["data"]) == 20
