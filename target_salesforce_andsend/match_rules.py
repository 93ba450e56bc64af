"""What a match is and how candidates are decided; pure (matching.py does the lookups).

A person or company to find (``PersonKey``), what was found (``Match``), the steps and their
order (``validate_order``), the deterministic pick among candidates (``pick``) and the company
rule for candidate Accounts (``account_verdict``: registrable domain and name score).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from .normalize import compact_company, company_domain, normalize_company

PERSON_STEPS = ("external_id", "contact_email", "lead_email")
ACCOUNT_STEPS = ("account_domain", "account_name")
DEFAULT_ORDER = (*PERSON_STEPS, *ACCOUNT_STEPS)
ALL_STEPS = frozenset(DEFAULT_ORDER)


@dataclass(frozen=True)
class PersonKey:
    key: str
    prospect_id: str | None = None
    email: str | None = None
    domain: str | None = None
    company: str | None = None
    country: str | None = None
    domain_source: str | None = None  # company (its own website/domain) | email (a work e-mail's)


@dataclass
class Match:
    object_type: str
    record_id: str
    account_id: str | None
    via: str
    candidates: list[str] = field(default_factory=list)
    record: dict = field(default_factory=dict)
    score: float | None = None  # account steps: the name score of the chosen Account

    @property
    def ambiguous(self) -> bool:
        return len(self.candidates) > 1


# A name is the same company's when its key is equal (score 100) or scores at least this much.
NAME_THRESHOLD = 92.0


@dataclass
class Verdict:
    """How one candidate Account compares with one prospect's company."""

    row: dict
    score: float   # name similarity 0-100 (100: equal keys)
    domain: str    # same | differ | unknown (either side without a usable domain)


def name_score(a: str | None, b: str | None) -> float:
    """Similarity of two company names' keys: 100 when equal (spacing aside), else rapidfuzz's
    ratio of the keys, so "Acme Holding" and "Acme Logistics" stay far apart."""
    ka, kb = normalize_company(a), normalize_company(b)
    if not ka or not kb:
        return 0.0
    if ka == kb or compact_company(ka) == compact_company(kb):
        return 100.0
    return round(float(fuzz.ratio(ka, kb)), 1)


def account_verdict(key: PersonKey, row: dict) -> Verdict:
    theirs = company_domain(row.get("Website"))
    if key.domain and theirs:
        relation = "same" if key.domain == theirs else "differ"
    else:
        relation = "unknown"
    return Verdict(row=row, score=name_score(key.company, row.get("Name")) if key.company else 0.0,
                   domain=relation)


def pick(records: list[dict]) -> dict:
    """The deterministic choice among candidates: latest LastModifiedDate, then smallest Id."""
    ordered = sorted(records, key=lambda r: r.get("Id") or "")
    return max(ordered, key=lambda r: r.get("LastModifiedDate") or "") if ordered else {}



def validate_order(order: Iterable[str]) -> list[str]:
    steps = list(order)
    unknown = [s for s in steps if s not in ALL_STEPS]
    if unknown:
        raise ValueError(f"match_order: unknown step(s) {unknown}; allowed: {', '.join(DEFAULT_ORDER)}")
    return steps

