"""The whole pipeline on a messy org, and what became of every record.

    python benchmarks/messy_org.py [--prospects 150] [--seed 7] [--modes lead,contact_account]
        [--out-dir benchmarks/results]

Per object mode, a fresh pair of emulators: Andsend's generated data, and a Salesforce org holding
part of the same people with everything of `emulators/salesforce/fixtures/messy.json` (validation
rules, record types, cross-object duplicate rules, field security, failing automation and CPU
limits, a sandbox, State and Country picklists). It runs `tap-andsend | target-salesforce-andsend`
(processes), checks every record's end state, relaxes the org's validation rules, automation and
duplicate rules (the emulator's `org-rules/relax`), runs `target-salesforce-andsend rejects replay`
and runs the pipeline again. It prints the outcome table (per role and object: written, linked,
rejected by error code, replayed and written on the rerun, still rejected) and the end states, and
writes `<out-dir>/messy-org-<date>.json` and `.md`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from emulators.andsend.generator import GeneratorConfig  # noqa: E402
from tests.reliability.messy import run_messy, table_markdown  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prospects", type=int, default=150)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--modes", default="lead,contact_account")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    sizes = GeneratorConfig(seed=args.seed, prospects=args.prospects, users=6, campaigns=3, searches=2,
                            results_per_search=10)
    results = []
    for mode in args.modes.split(","):
        work = Path(tempfile.mkdtemp(prefix=f"messy-{mode}-"))
        result = run_messy(work, sizes, object_mode=mode)
        results.append(result)
        print(table_markdown(result))
        for run in ("first", "second"):
            end = result[run]["end"]
            print(f"{run} run: end states {json.dumps(end['states'])}; problems {len(end['problems'])}; "
                  f"Salesforce calls {result['calls'][run]}")
            for problem in end["problems"][:10]:
                print(f"  ! {problem}")
        for run in ("first", "second"):
            print(f"automation ({run} run): {json.dumps(result[run]['report'].get('automation', {}))}")
        print(f"rejects retry (rerun): {json.dumps(result['second']['report'].get('rejects_retry', {}))}")
        for problem in result["replay_problems"][:10]:
            print(f"  ! replay: {problem}")
        print()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = args.out_dir / f"messy-org-{date.today().isoformat()}"
    slim = [{k: v for k, v in r.items() if k not in ("first", "second")}
            | {run: {"end": r[run]["end"], "rejects": r[run]["rejects"],
                     "automation": r[run]["report"].get("automation"),
                     "rejects_retry": r[run]["report"].get("rejects_retry"),
                     "counts": r[run]["report"].get("counts"), "skipped": r[run]["report"].get("skipped")}
               for run in ("first", "second")} for r in results]
    stem.with_suffix(".json").write_text(json.dumps(slim, indent=2, default=str) + "\n", encoding="utf-8")
    md = [f"# Messy org: every record's outcome ({args.prospects} prospects, seed {args.seed})", "",
          "Produced by `python benchmarks/messy_org.py`. First run on the messy org; then the org's validation "
          "rules, automation and duplicate rules are turned off and Andsend is added to the record types' "
          "LeadSource values, `rejects replay` is run and the pipeline runs again.",
          ""]
    for r in results:
        md.append(table_markdown(r))
        for run in ("first", "second"):
            md.append(f"- {run} run end states: `{json.dumps(r[run]['end']['states'])}`, problems: "
                      f"{len(r[run]['end']['problems'])}, Salesforce calls: {r['calls'][run]}")
        for run in ("first", "second"):
            md.append(f"- automation figures ({run} run): `{json.dumps(r[run]['report'].get('automation'))}`")
        md.append(f"- replay problems: {len(r['replay_problems'])}")
        md.append("")
    stem.with_suffix(".md").write_text("\n".join(md), encoding="utf-8")
    print(f"wrote {stem}.json and .md")
    bad = sum(len(r[run]["end"]["problems"]) for r in results for run in ("first", "second"))
    return 1 if bad or any(r["replay_problems"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
