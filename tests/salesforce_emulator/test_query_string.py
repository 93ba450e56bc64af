"""The emulator's own query-string decoding (a fast path for 100,000-character SOQL parameters)
must give exactly what ``urllib.parse.parse_qsl`` gives, well-formed or not."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote_plus

from hypothesis import given, settings
from hypothesis import strategies as st

from emulators.salesforce.core import parse_query_string


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.text(min_size=1), st.text()))
def test_encoded_parameters_decode_as_urllib_decodes_them(params: dict[str, str]) -> None:
    text = "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in params.items())
    assert parse_query_string(text) == dict(parse_qsl(text, keep_blank_values=True))
    assert parse_query_string(text, keep_blank_values=False) == dict(parse_qsl(text))


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from([*"ab=&+%\\xé", "%2", "%F0", "%C3", "%A9", "%25", "%5C", "\u00c3\u00a9"])).map("".join))
def test_malformed_input_decodes_as_urllib_decodes_it(text: str) -> None:
    # Stray %, truncated escapes, invalid UTF-8, raw backslashes and raw non-ASCII characters.
    assert parse_query_string(text) == dict(parse_qsl(text, keep_blank_values=True))


def test_a_long_soql_parameter_round_trips() -> None:
    soql = "SELECT Id FROM Lead WHERE Email IN (" + ", ".join(f"'o\\'brien+{i}@ex.com'" for i in range(5000)) + ")"
    assert parse_query_string("q=" + quote_plus(soql)) == {"q": soql}
