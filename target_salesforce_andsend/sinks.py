"""Thin BatchSinks, one per stream role; each hands its batch to the target, which hands it to the
role's handler (roles.py) on the role's background lane (batch_worker.py)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from singer_sdk.sinks import BatchSink

if TYPE_CHECKING:
    from .target import TargetSalesforceAndsend

class RoleSink(BatchSink):
    """Collects records (as the SDK does) and hands them over, one call per batch, to the target's
    batch worker (processed in order, in the background)."""

    role: str = ""
    # 5,000 records a batch (the SDK's batch_size_rows overrides it): fills 100,000-character IN
    # statements and 200-record calls, and gives max_concurrency calls enough to overlap, at a
    # bounded memory. Figures against 1,000 a batch: README, "Pipeline benchmark".
    MAX_SIZE_DEFAULT = 5000
    # Records failing the stream schema still reach process_record: our own input checks reject
    # them with a clear reason into the rejects file instead of the SDK aborting the run.
    fail_on_record_validation_exception = False

    def __init__(self, target: TargetSalesforceAndsend, stream_name: str, schema: dict,
                 key_properties: Any) -> None:
        super().__init__(target, stream_name, schema, key_properties)
        self.target = target

    @property
    def include_sdc_metadata_properties(self) -> bool:
        return False  # Salesforce records carry no _sdc_* columns

    def _parse_timestamps_in_record(self, record: dict, schema: dict, treatment: Any) -> None:
        # Keep ISO strings as sent: the role modules coerce them to Salesforce's formats.
        return None

    def preprocess_record(self, record: dict, context: dict) -> dict:
        return record

    def _singer_validate_message(self, record: dict) -> None:
        # The SDK aborts the whole run on a record without its key property. Such a record goes
        # to the role module instead, which rejects it into the rejects file with its reason.
        return None

    def process_batch(self, context: dict) -> None:
        records: list[dict[str, Any]] = list(context.get("records") or [])
        if not records:
            return
        self.target.submit_role_batch(self.role, records)


class ProspectsSink(RoleSink):
    role = "prospects"


class TouchpointsSink(RoleSink):
    role = "touchpoints"
    # Tasks are the bulk of the volume: 20,000 a batch makes one Bulk 2.0 job (about six calls)
    # of what would be 20 Composite calls, and their existence check five statements (one
    # Composite call). Measured in benchmarks/pipeline_benchmark.py (README, "API calls").
    MAX_SIZE_DEFAULT = 20_000

    def process_record(self, record: dict, context: dict) -> None:
        # A touchpoint waits in its batch (filling, then queued for the lane) as compact JSON,
        # smaller than the parsed dict, and 20,000 of them are in memory per batch waiting.
        context.setdefault("records", []).append(pack(record))


def pack(record: dict) -> str:
    # The SDK parses JSON numbers with a fraction as Decimal: they go back as the same number.
    return json.dumps(record, separators=(",", ":"), default=_number)


def _number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return str(value)


def unpack(records: list[Any]) -> list[dict]:
    """The batch's records as dicts (a packed record is decoded, a dict kept)."""
    if records and all(isinstance(r, str) for r in records):
        # One document for the batch: the decoder then shares one str per key name across the
        # records (decoded one by one, every record has its own copy of every key).
        return json.loads("[" + ",".join(records) + "]", parse_float=Decimal)
    return [json.loads(r, parse_float=Decimal) if isinstance(r, str) else r for r in records]


class SearchResultsSink(RoleSink):
    role = "search_results"


class UsersSink(RoleSink):
    """Andsend users: id -> email, for owners when a prospect carries only the user id."""

    role = "users"


class IgnoredSink(RoleSink):
    """Streams with nothing to write to Salesforce (tap-andsend's `campaigns`, or any stream mapped
    to `ignore`): their records are counted as skipped in the run report, never silently lost."""

    role = "ignore"


SINKS_BY_ROLE: dict[str, type[RoleSink]] = {
    "prospects": ProspectsSink,
    "touchpoints": TouchpointsSink,
    "search_results": SearchResultsSink,
    "users": UsersSink,
    "ignore": IgnoredSink,
}
