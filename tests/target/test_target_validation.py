"""The SDK's jsonschema pass is off by default (the role modules reject bad input themselves, with
a reason); `validate_records: true` brings its log line back. Either way the outcome is the same."""

from __future__ import annotations

import logging

import pytest

from tests.target._target_support import live, messages, prospect, run_target, target_config


@pytest.mark.parametrize("validate", [None, True])
def test_schema_violations_reach_the_rejects_file_with_or_without_sdk_validation(sf_emulator, tmp_path, caplog,
                                                                                  validate):
    sf_emulator.reset()
    bad = prospect("v-bad", email=12345)  # a number where the schema wants a string
    good = prospect("v-good")
    extra = {} if validate is None else {"validate_records": validate}
    with caplog.at_level(logging.INFO):
        run = run_target(target_config(sf_emulator, tmp_path, **extra), messages("prospects", [bad, good]))
    assert [r["key"] for r in run.rejects] == ["v-bad"]
    assert run.rejects[0]["error_code"] == "INVALID_INPUT" and "email" in run.rejects[0]["message"]
    assert [r["Andsend_Prospect_Id__c"] for r in live(sf_emulator.records("Lead"))] == ["v-good"]
    logged = any("Record validation failed" in r.getMessage() for r in caplog.records)
    assert logged is bool(validate)
