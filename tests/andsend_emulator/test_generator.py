"""The deterministic generator: same seed -> same data; sizes; realistic, multilingual content."""

from __future__ import annotations

import re
import time
from collections import Counter

import pytest

from emulators.andsend.generator import GeneratorConfig, generate, parse_ts
from emulators.andsend.people import CUSTOMER_DOMAIN
from emulators.andsend.store import Store


def _tables(data):
    return (data.users, data.campaigns, data.prospects, data.searches, data.search_results, data.touchpoints)


def test_same_seed_same_data_other_seed_other_data():
    a = generate(GeneratorConfig(seed=11, prospects=300))
    b = generate(GeneratorConfig(seed=11, prospects=300))
    c = generate(GeneratorConfig(seed=12, prospects=300))
    assert _tables(a) == _tables(b)
    assert [p["id"] for p in a.prospects] != [p["id"] for p in c.prospects]


def test_sections_are_independent_of_other_sizes():
    # More searches must not reshuffle the prospects (the Salesforce fixture relies on it).
    a = generate(GeneratorConfig(seed=5, prospects=200, searches=3))
    b = generate(GeneratorConfig(seed=5, prospects=200, searches=9))
    assert a.prospects == b.prospects and a.touchpoints == b.touchpoints


def test_sizes_and_shares():
    data = generate(GeneratorConfig(seed=3, prospects=4000, purchased_share=0.6, users=20, searches=10))
    assert len(data.prospects) == 4000 and len(data.users) == 20 and len(data.searches) == 10
    purchased = [p for p in data.prospects if p["purchased"]]
    assert 0.56 < len(purchased) / 4000 < 0.64
    per_prospect = Counter(t["prospect_id"] for t in data.touchpoints)
    assert set(per_prospect) <= {p["id"] for p in purchased}
    assert min(per_prospect.values()) >= 1 and max(per_prospect.values()) <= 5
    assert sum(2 <= n <= 5 for n in per_prospect.values()) > 0.97 * len(per_prospect)
    assert len({p["id"] for p in data.prospects}) == 4000


def test_realistic_people_companies_and_emails():
    data = generate(GeneratorConfig(seed=1, prospects=3000))
    names = [p["full_name"] for p in data.prospects]
    non_ascii = [n for n in names if not n.isascii()]
    cjk = [n for n in names if re.search(r"[\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7af]", n)]
    assert 0.3 < len(non_ascii) / len(names) and 0.03 < len(cjk) / len(names) < 0.2
    for letter in "éøßçłşıåäöü":
        assert any(letter in n for n in names + [p["company_name"] for p in data.prospects]), letter
    assert any("'" in n for n in names)  # O'Brien, D'Angelo: quoting must be right downstream
    emails = [p["email"] for p in data.prospects]
    missing = sum(e is None for e in emails) / len(emails)
    assert 0.04 < missing < 0.13
    for p in data.prospects:
        if p["email"]:
            assert p["email"].isascii() and p["email"].endswith("@" + p["company_domain"])
            assert re.fullmatch(r"[a-z0-9._-]+@[a-z0-9.-]+\.[a-z]{2,}", p["email"]), p["email"]
        assert p["company_domain"] and p["company_name"] and p["country"]
        if p["linkedin_url"]:
            assert (
                p["linkedin_url"].startswith("https://www.linkedin.com/in/") and p["linkedin_url"].isascii()
            )
        assert p["created_at"] <= p["updated_at"]
        if p["purchased"]:
            assert p["created_at"] < p["purchased_at"] <= p["updated_at"] and p["purchased_by_user_id"]
    assert len({p["country"] for p in data.prospects}) >= 15
    assert all(u["email"].endswith("@" + CUSTOMER_DOMAIN) for u in data.users)
    assert len({u["team"] for u in data.users if u["team"]}) >= 3


def test_touchpoints_happen_after_purchase_with_content_where_it_makes_sense():
    data = generate(GeneratorConfig(seed=2, prospects=1500))
    by_id = {p["id"]: p for p in data.prospects}
    kinds = Counter(t["type"] for t in data.touchpoints)
    assert set(kinds) == {
        "email_sent",
        "linkedin_connection_request",
        "linkedin_message",
        "linkedin_inmail",
        "linkedin_profile_visit",
    }
    for t in data.touchpoints:
        prospect = by_id[t["prospect_id"]]
        assert parse_ts(t["executed_at"]) > parse_ts(prospect["purchased_at"])
        if t["type"] == "email_sent":
            assert t["channel"] == "email" and t["subject"] and t["body"] and prospect["email"]
        else:
            assert t["channel"] == "linkedin"
        if t["type"] == "linkedin_profile_visit":
            assert t["subject"] is None and t["body"] is None
        if t["type"] == "linkedin_message":
            assert t["body"]


def test_search_results_snapshot_their_prospects():
    data = generate(GeneratorConfig(seed=4, prospects=800, searches=6, results_per_search=50))
    by_id = {p["id"]: p for p in data.prospects}
    searches = {s["id"]: s for s in data.searches}
    assert len(data.search_results) > 100
    assert {by_id[r["prospect_id"]]["purchased"] for r in data.search_results} == {True, False}
    for r in data.search_results:
        p = by_id[r["prospect_id"]]
        assert r["search_name"] == searches[r["search_id"]]["name"]
        for field in (
            "first_name",
            "last_name",
            "company_name",
            "company_domain",
            "company_website",
            "linkedin_url",
        ):
            assert r[field] == p[field]
        if r["email"] is not None:
            assert r["email"] == p["email"] and p["purchased"] and p["purchased_at"] <= r["created_at"]
        if not p["purchased"]:
            assert r["email"] is None


def test_store_load_is_fast_for_ten_thousand(tmp_path):
    data = generate(GeneratorConfig(seed=1, prospects=10_000))
    store = Store(str(tmp_path / "a.sqlite"))
    store.load(data)
    assert store.count("prospects") == 10_000 and store.count("touchpoints") == len(data.touchpoints)
    store.close()


@pytest.mark.slow
def test_one_hundred_thousand_prospects_generate_and_load(tmp_path):
    """Scale check; the time is printed (benchmarks/andsend_generator.py measures it), never asserted."""
    start = time.monotonic()
    data = generate(GeneratorConfig(seed=1, prospects=100_000))
    store = Store(str(tmp_path / "big.sqlite"))
    store.load(data)
    elapsed = time.monotonic() - start
    print(f"100k prospects, {len(data.touchpoints)} touchpoints: generated and loaded in {elapsed:.1f} s")
    assert store.count("prospects") == 100_000
    page, more = store.page("prospects", limit=1000, filters={"purchased": True})
    assert len(page) == 1000 and more
    store.close()
