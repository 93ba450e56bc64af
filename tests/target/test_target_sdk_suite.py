"""The SDK's generic target tests that fit a Salesforce target, plus our own `.singer` streams
(tests/target/streams/) with a validate() that reads the result back from the emulator
(the MeltanoLabs/target-snowflake pattern)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from singer_sdk.testing import get_target_test_class
from singer_sdk.testing.runners import TargetTestRunner
from singer_sdk.testing.suites import SingerTestSuite
from singer_sdk.testing.target_tests import (
    TargetCliPrintsTest,
    TargetInvalidSchemaTest,
    TargetRecordBeforeSchemaTest,
)
from singer_sdk.testing.templates import TargetFileTestTemplate

from target_salesforce_andsend.target import TargetSalesforceAndsend
from tests.target._target_support import STREAMS, live, target_config

EXT = "Andsend_Prospect_Id__c"
# Filled per test by the `resource` fixture (the emulator's port is only known then).
CONFIG: dict[str, Any] = {}
GENERIC_STREAM_ROLES = {"test_record_missing_key_property": "users", "test_invalid_schema": "users",
                        "test_record_before_schema": "users"}


class _StreamFileTest(TargetFileTestTemplate):
    @property
    def singer_filepath(self) -> Path:
        return STREAMS / f"{self.name}.singer"

    def states(self) -> list[dict]:
        return [s if isinstance(s, dict) else json.loads(s) for s in self.runner.state_messages]


class ProspectsBasic(_StreamFileTest):
    name = "prospects_basic"

    def validate(self) -> None:
        leads = {r[EXT]: r for r in live(self.resource.records("Lead"))}
        assert sorted(leads) == ["p-001", "p-002", "p-004"]
        assert leads["p-002"]["Company"] == "Berg Bau AG"
        assert self.states() == [{"bookmarks": {"prospects": {"replication_key_value": "2026-01-01T00:00:00Z"}}}]
        stdout_lines = [line for line in self.runner.stdout.splitlines() if line.strip()]
        assert all("bookmarks" in json.loads(line) for line in stdout_lines)


class ProspectsBadInput(_StreamFileTest):
    name = "prospects_bad_input"

    def validate(self) -> None:
        assert [r[EXT] for r in live(self.resource.records("Lead"))] == ["b-good"]
        rejects = (Path(CONFIG["output_dir"]) / "rejects.jsonl").read_text().splitlines()
        assert sorted(json.loads(x)["key"] for x in rejects) == ["b-email", "b-noname", "b-types"]


class UsersAndProspects(_StreamFileTest):
    name = "users_and_prospects"

    def setup(self) -> None:
        self.refs = self.resource.seed({"users": [{"_ref": "s", "Username": "s@sf.test", "LastName": "S",
                                                   "Email": "seller@andsend.test", "IsActive": True}]})

    def validate(self) -> None:
        owners = {r[EXT]: r["OwnerId"] for r in live(self.resource.records("Lead"))}
        assert owners["o-001"] == self.refs["s"] and owners["o-002"] != self.refs["s"]


class RecordMissingKeyPropertyRejected(TargetFileTestTemplate):
    """The SDK's own test expects MissingKeyPropertiesError, which aborts the run and pins STATE
    behind the bad record forever. We deliberately reject that one record instead (README:
    input without an id goes to the rejects file) and keep the run going. Same input file as
    the SDK's test (its default singer_filepath)."""

    name = "record_missing_key_property"

    def validate(self) -> None:
        rejects = [json.loads(x) for x in (Path(CONFIG["output_dir"]) / "rejects.jsonl").read_text().splitlines()]
        assert len(rejects) == 1, rejects
        assert rejects[0]["role"] == "users"


class TrickyStrings(_StreamFileTest):
    name = "prospects_tricky_strings"

    def validate(self) -> None:
        names = sorted(r["LastName"] for r in live(self.resource.records("Lead")))
        assert names == ["O'Brien", "Percent", "Under"]  # backslash/non-ASCII emails refused up front


StandardTests = get_target_test_class(
    TargetSalesforceAndsend,
    config=CONFIG,
    include_target_tests=False,
    custom_suites=[SingerTestSuite(kind="target", tests=[
        TargetCliPrintsTest, TargetRecordBeforeSchemaTest, RecordMissingKeyPropertyRejected, TargetInvalidSchemaTest,
        ProspectsBasic, ProspectsBadInput, UsersAndProspects, TrickyStrings,
    ])],
)


class TestTargetSalesforceAndsend(StandardTests):
    @pytest.fixture
    def resource(self, sf_emulator, tmp_path):
        CONFIG.clear()
        CONFIG.update(target_config(sf_emulator, tmp_path, stream_roles=GENERIC_STREAM_ROLES))
        yield sf_emulator

    @pytest.fixture
    def runner(self, resource) -> TargetTestRunner:
        return TargetTestRunner(target_class=TargetSalesforceAndsend, config=dict(CONFIG))
