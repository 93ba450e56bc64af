"""A singer-sdk target that discards every record: the cost of Singer itself.

The pipeline benchmark feeds it the same captured tap output as target-salesforce-andsend, so
the difference between the two is what the real target spends on its own work. It parses,
validates and batches records exactly as any SDK target does (``BatchSink``, 5,000 rows a batch,
as the real target's sinks), emits STATE, and does nothing with a batch.

    python benchmarks/noop_target.py --config '{}'-file < tap-output.singer > state.jsonl
"""

from __future__ import annotations

from singer_sdk import typing as th
from singer_sdk.sinks import BatchSink
from singer_sdk.target_base import Target


class NoopSink(BatchSink):
    """Collects a batch (as the SDK does) and drops it."""

    MAX_SIZE_DEFAULT = 5000  # the real target's RoleSink batch size

    def process_batch(self, context: dict) -> None:
        context.get("records", []).clear()


class NoopTarget(Target):
    name = "target-noop"
    config_jsonschema = th.PropertiesList().to_dict()
    default_sink_class = NoopSink


if __name__ == "__main__":
    NoopTarget.cli()
