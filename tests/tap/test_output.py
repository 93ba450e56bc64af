"""The Singer line writer: same JSON as the SDK's writer, readable by SDK targets."""

from __future__ import annotations

import datetime as dt
import decimal
import json

from singer_sdk.singerlib import RecordMessage
from singer_sdk.singerlib.encoding import SimpleSingerWriter

from tap_andsend.output import FastSingerWriter


def test_writer_lines_parse_like_the_sdk_writes_them() -> None:
    when = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.timezone.utc)
    message = RecordMessage(
        stream="prospects",
        record={"id": "p1", "n": 1.5, "d": decimal.Decimal("2.25"), "s": "Zoë", "nan": float("nan")},
        time_extracted=when,
    )
    ours = FastSingerWriter().serialize_message(message)
    sdk = SimpleSingerWriter().serialize_message(message)
    assert json.loads(ours) == json.loads(sdk)
    assert "\n" not in ours
    # Readable by the SDK's own reader on Python 3.10 too (fromisoformat without "Z").
    assert dt.datetime.fromisoformat(json.loads(ours)["time_extracted"]) == when
