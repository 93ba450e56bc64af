"""Matching quality on the labelled corpus (tests/matching/), end to end through the target.

Company pairs: every pair's Account seeded into a fresh Salesforce emulator, every prospect sent in
one ``contact_account`` run; a prospect is a true link when its new Contact sits under its pair's
Account and the pair is the same company. Person pairs: Leads and Contacts seeded (with alternate
e-mail fields on Contact), the prospects sent in one ``lead`` run with ``match_email_fields``.

Prints precision, recall and duplicate records (aims: precision >= 99.5%, recall >= 98%, 0
duplicate Accounts) per corpus and per category, and writes ``benchmarks/results/matching-*.json``
and ``.md``. ``--limit N`` runs the first N pairs of each corpus.

    python benchmarks/matching_benchmark.py [--limit N] [--batch-size 500] [--out-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.matching.corpus import COMPANY_FILE, PERSON_FILE, load  # noqa: E402
from tests.matching.harness import run_company_corpus, run_person_corpus  # noqa: E402


def _table(name: str, figures: dict) -> list[str]:
    lines = [f"## {name}", "",
             f"- decisions {figures['decisions']} ({figures['same']} same, {figures['different']} different)",
             f"- precision **{figures['precision']:.2%}**, recall **{figures['recall']:.2%}**, "
             f"duplicates **{figures['duplicate_accounts']}**",
             f"- true links {figures['true_links']}, false links {figures['false_links']}; "
             f"API calls {figures['api_calls']}; {figures['seconds']} s; audit entries {figures['audit_entries']}",
             "", "| label / category | outcomes |", "|---|---|"]
    for cat, outcomes in figures["by_category"].items():
        lines.append(f"| {cat} | " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) + " |")
    return [*lines, ""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=0, help="first N pairs of each corpus (0 = all)")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args(argv)

    companies = load(COMPANY_FILE)
    people = load(PERSON_FILE)
    if args.limit:
        companies, people = companies[: args.limit], people[: args.limit]
    with tempfile.TemporaryDirectory(prefix="matching-bench-") as tmp:
        company = run_company_corpus(companies, Path(tmp) / "company", batch_size=args.batch_size).as_dict()
        person = run_person_corpus(people, Path(tmp) / "person", batch_size=args.batch_size).as_dict()
    result = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "batch_size": args.batch_size,
              "company_pairs": len(companies), "person_pairs": len(people),
              "aims": {"precision": 0.995, "recall": 0.98, "duplicate_accounts": 0},
              "company": company, "person": person}
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = "matching" if not args.limit else f"matching-limit{args.limit}"
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    md = ["# Matching benchmark", "",
          f"{len(companies)} company pairs, {len(people)} person pairs (tests/matching/), batch size "
          f"{args.batch_size}, end to end through the target against the Salesforce emulator.", "",
          *_table("Companies (contact_account)", company),
          *_table("People (lead mode, alternate e-mail fields)", person)]
    (out / f"{stem}.md").write_text("\n".join(md), encoding="utf-8")
    for name, figures in (("companies", company), ("people", person)):
        print(f"{name}: precision {figures['precision']:.2%} recall {figures['recall']:.2%} "
              f"duplicates {figures['duplicate_accounts']} ({figures['decisions']} decisions, "
              f"{figures['api_calls']} API calls, {figures['seconds']} s)")
        for err in figures["errors"][:15]:
            print("   miss:", json.dumps(err, ensure_ascii=False)[:300])
    return 0


if __name__ == "__main__":
    sys.exit(main())
