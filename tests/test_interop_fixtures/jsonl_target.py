"""A minimal Singer target that writes one JSON-lines file per stream (standard library only).

Stands in for PyPI's target-jsonl, which cannot be installed next to singer-sdk 0.54: its
0.1.4 release pins jsonschema==2.6.0 and singer-python==5.8.0 (singer-sdk needs
jsonschema>=4.18). It follows the same Singer spec and behaviour, so a tap that works into
it works into any conforming target: SCHEMA before RECORD for a stream, records appended to
``<dest>/<stream>.jsonl``, and the last STATE echoed to stdout once everything is written.
It shares no code with this project.

Usage: ``tap ... | python jsonl_target.py DEST_DIR``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO


def main(argv: list[str]) -> int:
    dest = Path(argv[1])
    dest.mkdir(parents=True, exist_ok=True)
    files: dict[str, IO[str]] = {}
    key_properties: dict[str, list[str]] = {}
    state: object = None
    try:
        for number, line in enumerate(sys.stdin, 1):
            if not line.strip():
                continue
            try:
                message = json.loads(line)
            except ValueError:
                print(f"line {number} is not JSON: {line[:200]!r}", file=sys.stderr)
                return 1
            kind = message.get("type")
            if kind == "SCHEMA":
                stream = message["stream"]
                key_properties[stream] = list(message.get("key_properties") or [])
                if stream not in files:
                    files[stream] = (dest / f"{stream}.jsonl").open("a", encoding="utf-8")
            elif kind == "RECORD":
                stream = message["stream"]
                if stream not in files:
                    print(f"line {number}: RECORD for {stream!r} before its SCHEMA", file=sys.stderr)
                    return 1
                record = message["record"]
                missing = [k for k in key_properties[stream] if record.get(k) in (None, "")]
                if missing:
                    print(f"line {number}: {stream} record lacks key properties {missing}", file=sys.stderr)
                    return 1
                files[stream].write(json.dumps(record, sort_keys=True) + "\n")
            elif kind == "STATE":
                state = message["value"]
            # ACTIVATE_VERSION and BATCH are not needed by this target; ignore them as many do.
    finally:
        for fh in files.values():
            fh.close()
    if state is not None:
        sys.stdout.write(json.dumps(state) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
