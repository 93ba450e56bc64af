"""Simulated customer activity for the control plane: purchases, edits, outreach, new search results.

Each call draws from ``random.Random(f"{seed}:activity:{n}")`` (n = how many activity calls the
store has seen), so a scripted test sees the same ids every run. Everything one call changes
shares one ``updated_at`` stamp, strictly after every stamp stored before (``Store.write_stamp``).
"""

from __future__ import annotations

import json
import random
from typing import Any

from emulators.andsend.generator import (
    HOUR_MS,
    email_for,
    make_touchpoint,
    parse_ts,
    snapshot_result,
)
from emulators.andsend.people import COUNTRIES, FUNCTIONS, SENIORITIES, ascii_fold
from emulators.andsend.store import RESOURCES, Store

PHONE_PREFIX = {c.name: c.phone_prefix for c in COUNTRIES}
ACTIVITY_KINDS = ("new_purchases", "edited_prospects", "new_touchpoints", "new_search_results")
MAX_PER_KIND = 100_000


def _ids(conn: Any, sql: str, params: tuple[Any, ...] = ()) -> list[str]:
    return [row[0] for row in conn.execute(sql, params)]


def _pick(rng: random.Random, ids: list[str], n: int) -> list[str]:
    return rng.sample(ids, min(n, len(ids)))


def run_activity(store: Store, counts: dict[str, int], now_ms: int) -> dict[str, list[str]]:
    """Apply ``counts`` (keys of :data:`ACTIVITY_KINDS`) and return the ids touched per kind."""
    config = store.config()
    seed = config.seed if config else 0
    touched: dict[str, list[str]] = {kind: [] for kind in ACTIVITY_KINDS}
    with store.transaction() as conn:
        run = int(conn.execute("SELECT value FROM meta WHERE key = 'activity_runs'").fetchone()[0])
        conn.execute("UPDATE meta SET value = ? WHERE key = 'activity_runs'", (str(run + 1),))
        rng = random.Random(f"{seed}:activity:{run}")
        stamp_ms, stamp = store.write_stamp(conn, now_ms)
        users = [
            dict(zip(RESOURCES["users"].columns, r, strict=True))
            for r in conn.execute(
                f"SELECT {', '.join(RESOURCES['users'].columns)} FROM users ORDER BY id"  # noqa: S608
            )
        ]
        campaign_ids = _ids(conn, "SELECT id FROM campaigns WHERE status IN ('active', 'paused') ORDER BY id")

        # Purchases: available prospects become purchased; their contact data becomes visible.
        available = _ids(conn, "SELECT id FROM prospects WHERE status = 'available' ORDER BY id")
        for pid in _pick(rng, available, counts.get("new_purchases", 0)):
            user = rng.choice(users) if users else None
            chosen = sorted(rng.sample(campaign_ids, min(len(campaign_ids), rng.choice((0, 1, 1, 2)))))
            conn.execute(
                "UPDATE prospects SET status = 'purchased', purchased = 1, purchased_at = ?, "
                "purchased_by_user_id = ?, campaign_ids = ?, updated_at = ? WHERE id = ?",
                (stamp, user["id"] if user else None, json.dumps(chosen), stamp, pid),
            )
            touched["new_purchases"].append(pid)

        # Edits: a purchased prospect changes job or phone, or gets an e-mail found later.
        purchased = _ids(conn, "SELECT id FROM prospects WHERE purchased = 1 ORDER BY id")
        for pid in _pick(rng, purchased, counts.get("edited_prospects", 0)):
            first, last, domain, email, country, campaigns = conn.execute(
                "SELECT first_name, last_name, company_domain, email, company_country, campaign_ids "
                "FROM prospects WHERE id = ?",
                (pid,),
            ).fetchone()
            roll = rng.random()
            if roll < 0.4:
                change = ("title", f"{rng.choice(SENIORITIES)} {rng.choice(FUNCTIONS)}")
            elif roll < 0.55 and campaign_ids:
                # Added to one more campaign.
                members = sorted(set(json.loads(campaigns or "[]")) | {rng.choice(campaign_ids)})
                change = ("campaign_ids", json.dumps(members))
            elif roll < 0.8 or email is not None or not domain:
                prefix = PHONE_PREFIX.get(country or "", "+44")
                change = ("phone", f"{prefix} {rng.randint(10, 99)} {rng.randint(1_000_000, 9_999_999)}")
            else:
                # An address found later for someone bought without one.
                change = (
                    "email",
                    email_for("{f}.{l}", ascii_fold(first or "x"), ascii_fold(last or "x"), domain),
                )
            conn.execute(
                f"UPDATE prospects SET {change[0]} = ?, updated_at = ? WHERE id = ?",  # noqa: S608 (column from a constant)
                (change[1], stamp, pid),
            )
            touched["edited_prospects"].append(pid)

        # Outreach steps executed now, for purchased prospects the CRM does not mark do-not-contact
        # (Andsend stops sequences for people who opted out or must not be called).
        blocked = store.do_not_contact_ids(conn)
        purchased = [p for p in _ids(conn, "SELECT id FROM prospects WHERE purchased = 1 ORDER BY id")
                     if p not in blocked]
        by_user = {u["id"]: u for u in users}
        new_tps = []
        for i in range(counts.get("new_touchpoints", 0) if purchased else 0):
            prospect = store.raw("prospects", rng.choice(purchased))
            assert prospect is not None
            user = by_user.get(prospect["purchased_by_user_id"] or "")
            # Executed within the last hour, never before the purchase; created/updated are the write stamp.
            executed = min(stamp_ms, now_ms) - rng.randint(0, HOUR_MS) + i
            executed = min(stamp_ms, max(executed, parse_ts(prospect["purchased_at"]) + 1))
            tp = make_touchpoint(rng, prospect, executed, user, allow_email=prospect["email"] is not None)
            tp["created_at"] = tp["updated_at"] = stamp
            new_tps.append(tp)
        store.insert(conn, "touchpoints", new_tps)
        touched["new_touchpoints"] = [tp["id"] for tp in new_tps]

        # New results for existing searches (a search re-run found more people).
        searches = [
            dict(zip(("id", "name"), r, strict=True))
            for r in conn.execute("SELECT id, name FROM searches ORDER BY id")
        ]
        all_prospects = _ids(conn, "SELECT id FROM prospects ORDER BY id")
        new_results = []
        for _ in range(counts.get("new_search_results", 0) if searches and all_prospects else 0):
            search = rng.choice(searches)
            prospect = store.raw("prospects", rng.choice(all_prospects))
            assert prospect is not None
            result = snapshot_result(rng, search, prospect, stamp_ms)
            new_results.append(result)
        store.insert(conn, "search_results", new_results)
        touched["new_search_results"] = [r["id"] for r in new_results]
        for search_id in sorted({r["search_id"] for r in new_results}):
            conn.execute("UPDATE searches SET updated_at = ? WHERE id = ?", (stamp, search_id))
    return touched
