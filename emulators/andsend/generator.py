"""Deterministic generator of realistic Andsend data (users, campaigns, prospects, searches, touchpoints).

Same ``GeneratorConfig`` -> the same data, byte for byte: every section draws from its own
``random.Random`` seeded with ``f"{seed}:{section}"`` (string seeds hash with SHA-512, so
``PYTHONHASHSEED`` does not matter), and timestamps are laid out backwards from a fixed
``now`` instead of the wall clock. ``sf_fixture.py`` relies on this to build a Salesforce org
that shares people with the Andsend data.

Records are plain dicts with exactly the API's fields (``schemas/*.json``); prospects keep
their e-mail and phone even before purchase (the API hides them until then, see ``store.py``).
"""

from __future__ import annotations

import bisect
import itertools
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from emulators.andsend.people import (
    COMPANY_SIZES,
    COUNTRIES,
    CUSTOMER_DOMAIN,
    FUNCTIONS,
    INDUSTRIES,
    LOCAL_TITLES,
    SENIORITIES,
    SIZE_WEIGHTS,
    TEAMS,
    Country,
    ascii_fold,
    slug,
)

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
DEFAULT_NOW = "2026-01-01T00:00:00.000Z"


def format_ts(ms: int) -> str:
    """Epoch milliseconds -> ``2025-03-04T05:06:07.089Z`` (fixed width, so text order is time order)."""
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(ms // 1000))}.{ms % 1000:03d}Z"


def parse_ts(text: str) -> int:
    """RFC 3339 (any offset, any fraction) -> epoch milliseconds, rounding a sub-millisecond fraction up.

    Rounding up keeps ``updated_since`` inclusive and exact: ``...:00.0005Z`` must not match a record
    stamped ``...:00.000Z``.
    """
    value = text.strip()
    if not value or "T" not in value.upper():
        raise ValueError(f"not an RFC 3339 date-time: {text!r}")
    if value[-1] in "zZ":
        value = value[:-1] + "+00:00"
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        raise ValueError(f"RFC 3339 date-time needs an offset or Z: {text!r}")
    delta = dt - EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return -(-micros // 1000)


@dataclass(frozen=True)
class GeneratorConfig:
    seed: int = 1
    prospects: int = 2000
    purchased_share: float = 0.6
    users: int = 20
    campaigns: int = 8
    searches: int = 10
    results_per_search: int = 40
    now: str = DEFAULT_NOW

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GeneratorConfig:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Company:
    name: str
    base_name: str
    domain: str
    website: str | None
    industry: str
    size: str
    country: Country
    city: str


@dataclass
class Dataset:
    config: GeneratorConfig
    users: list[dict[str, Any]] = field(default_factory=list)
    campaigns: list[dict[str, Any]] = field(default_factory=list)
    prospects: list[dict[str, Any]] = field(default_factory=list)
    searches: list[dict[str, Any]] = field(default_factory=list)
    search_results: list[dict[str, Any]] = field(default_factory=list)
    touchpoints: list[dict[str, Any]] = field(default_factory=list)
    companies: list[Company] = field(default_factory=list)


def _rng(seed: int, section: str) -> random.Random:
    return random.Random(f"{seed}:{section}")


def pick(rng: random.Random, seq: Sequence[Any]) -> Any:
    """``rng.choice`` without its rejection sampling: faster, and the generator makes millions of picks."""
    return seq[int(rng.random() * len(seq))]


def between(rng: random.Random, low: int, high: int) -> int:
    """Uniform integer in [low, high] (fast ``randint``)."""
    return low + int(rng.random() * (high - low + 1))


class Weighted:
    """A fast ``rng.choices(values, weights)[0]`` for a fixed table."""

    def __init__(self, values: Sequence[Any], weights: Sequence[float]) -> None:
        self.values = tuple(values)
        self.cum = list(itertools.accumulate(weights))

    def pick(self, rng: random.Random) -> Any:
        return self.values[bisect.bisect_right(self.cum, rng.random() * self.cum[-1])]


def new_id(rng: random.Random, prefix: str) -> str:
    return f"{prefix}_{rng.getrandbits(64):016x}"


class _CountryPicker:
    def __init__(self) -> None:
        self.cum = list(itertools.accumulate(c.weight for c in COUNTRIES))

    def pick(self, rng: random.Random) -> Country:
        return COUNTRIES[bisect.bisect_right(self.cum, rng.random() * self.cum[-1])]


COUNTRY_PICKER = _CountryPicker()


def person_name(rng: random.Random, country: Country) -> tuple[str, str, str, str, str]:
    """(first, last, full, ascii first, ascii last); CJK names keep their script, ASCII parts are romanised."""
    first = pick(rng, country.first_names)
    last = pick(rng, country.last_names)
    if country.romanised:
        full = f"{last}{first}" if country.family_name_first else f"{first} {last}"
        return first, last, full, country.romanised[first], country.romanised[last]
    return first, last, f"{first} {last}", ascii_fold(first), ascii_fold(last)


def _title(rng: random.Random) -> str:
    if rng.random() < 0.18:
        return pick(rng, LOCAL_TITLES)
    seniority = pick(rng, SENIORITIES)
    function = pick(rng, FUNCTIONS)
    return f"Chief {function} Officer" if seniority == "Chief" else f"{seniority} {function}"


_EMAIL_PATTERNS = ("{f}.{l}", "{f}.{l}", "{f}.{l}", "{f0}.{l}", "{f}", "{f}{l0}", "{f}_{l}", "{f0}{l}")


def email_for(pattern: str, ascii_first: str, ascii_last: str, domain: str) -> str:
    f = slug(ascii_first, "-") or "x"
    last = slug(ascii_last, "") or "x"
    local = pattern.format(f=f, l=last, f0=f[0], l0=last[0])
    return f"{local}@{domain}"


_GROUP_WORDS = ("Group", "Holding", "Partners", "International", "Solutions", "Nordic", "Europe")


def _company_base(rng: random.Random, country: Country) -> str:
    first_words, second_words = country.company_words
    roll = rng.random()
    if roll < 0.6 or country.romanised:
        return f"{rng.choice(first_words)}{country.company_joiner}{rng.choice(second_words)}"
    # Family-name companies (Müller Logistik, Sørensen & Kjær); folded second words read naturally.
    family = rng.choice(country.last_names)
    if roll < 0.8:
        return f"{family} {rng.choice(second_words).capitalize()}"
    return f"{family} & {rng.choice(country.last_names)}"


def generate_companies(config: GeneratorConfig) -> list[Company]:
    rng = _rng(config.seed, "companies")
    count = max(30, config.prospects // 10)
    companies: list[Company] = []
    used_domains: set[str] = set()
    used_names: set[str] = set()
    while len(companies) < count:
        country = COUNTRY_PICKER.pick(rng)
        base = _company_base(rng, country)
        for _ in range(3):
            if base not in used_names:
                break
            # Pools are small on purpose (realistic names); widen with a place or group word.
            base = f"{base} {rng.choice(country.cities + _GROUP_WORDS)}"
        if base in used_names:
            base = f"{base} {len(companies)}"
        used_names.add(base)
        name = f"{base} {rng.choice(country.legal_suffixes)}"
        stem = slug(base, "-" if rng.random() < 0.4 else "")
        domain = f"{stem}.{country.tld}"
        if domain in used_domains:
            domain = f"{stem}-{len(companies)}.{country.tld}"
        used_domains.add(domain)
        roll = rng.random()
        if roll < 0.6:
            website: str | None = f"https://www.{domain}"
        elif roll < 0.8:
            website = f"https://{domain}/"
        elif roll < 0.95:
            website = f"http://www.{domain}/"
        else:
            website = None
        companies.append(
            Company(
                name=name,
                base_name=base,
                domain=domain,
                website=website,
                industry=rng.choice(INDUSTRIES),
                size=rng.choices(COMPANY_SIZES, SIZE_WEIGHTS)[0],
                country=country,
                city=rng.choice(country.cities),
            )
        )
    return companies


def generate_users(config: GeneratorConfig, now_ms: int) -> list[dict[str, Any]]:
    rng = _rng(config.seed, "users")
    # Sellers of a European customer: mostly European names, some non-ASCII.
    pool = [
        c for c in COUNTRIES if c.code in {"DE", "AT", "SE", "NO", "DK", "FI", "PL", "GB", "FR", "NL", "TR"}
    ]
    users: list[dict[str, Any]] = []
    used: set[str] = set()
    for i in range(config.users):
        country = rng.choice(pool)
        first, last, full, af, al = person_name(rng, country)
        email = email_for("{f}.{l}", af, al, CUSTOMER_DOMAIN)
        if email in used:
            email = email.replace("@", f"{i}@")
        used.add(email)
        created = now_ms - rng.randint(400, 700) * DAY_MS - rng.randint(0, DAY_MS)
        users.append(
            {
                "id": new_id(rng, "usr"),
                "email": email,
                "name": full,
                "team": TEAMS[i % len(TEAMS)] if rng.random() < 0.9 else None,
                "created_at": format_ts(created),
                "updated_at": format_ts(created + rng.randint(0, 300) * DAY_MS),
            }
        )
    return users


_CAMPAIGN_THEMES = (
    "SaaS outbound",
    "Fintech decision makers",
    "Manufacturing CFOs",
    "Event follow-up",
    "Webinar invite",
    "Re-engagement",
    "Partner launch",
    "Enterprise ABM",
    "Pilot offer",
)


def generate_campaigns(
    config: GeneratorConfig, users: list[dict[str, Any]], now_ms: int
) -> list[dict[str, Any]]:
    rng = _rng(config.seed, "campaigns")
    campaigns = []
    for i in range(config.campaigns):
        created = now_ms - rng.randint(30, 400) * DAY_MS - rng.randint(0, DAY_MS)
        quarter = f"Q{(i % 4) + 1}"
        campaigns.append(
            {
                "id": new_id(rng, "cmp"),
                "name": f"{quarter} {rng.choice(TEAMS)} – {rng.choice(_CAMPAIGN_THEMES)}",
                "status": rng.choices(("active", "finished", "paused", "draft"), (5, 3, 1, 1))[0],
                "owner_user_id": rng.choice(users)["id"] if users and rng.random() < 0.95 else None,
                "created_at": format_ts(created),
                "updated_at": format_ts(min(now_ms, created + rng.randint(0, 30) * DAY_MS)),
            }
        )
    return campaigns


_CAMPAIGN_COUNT = Weighted((0, 1, 2), (1, 6, 2))


def _custom_fields(rng: random.Random) -> dict[str, Any] | None:
    if rng.random() < 0.3:
        return None
    return {
        "lead_score": between(rng, 1, 100),
        "persona": pick(rng, ("Economic buyer", "Champion", "Technical evaluator", "End user")),
        "gdpr_basis": pick(rng, ("legitimate_interest", "consent")),
        "intent_signal": rng.random() < 0.3,
    }


def generate_prospects(
    config: GeneratorConfig,
    companies: list[Company],
    users: list[dict[str, Any]],
    campaigns: list[dict[str, Any]],
    now_ms: int,
) -> list[dict[str, Any]]:
    rng = _rng(config.seed, "prospects")
    n_companies = len(companies)
    usable_campaigns = [c["id"] for c in campaigns if c["status"] != "draft"] or [c["id"] for c in campaigns]
    user_ids = [u["id"] for u in users]
    email_pattern = {c.domain: _EMAIL_PATTERNS[i % len(_EMAIL_PATTERNS)] for i, c in enumerate(companies)}
    prospects: list[dict[str, Any]] = []
    for _ in range(config.prospects):
        # Skewed: a few large companies hold many prospects, like real prospect databases.
        company = companies[int(n_companies * rng.random() ** 1.7)]
        nationality = company.country if rng.random() < 0.8 else COUNTRY_PICKER.pick(rng)
        first, last, full, af, al = person_name(rng, nationality)
        email = (
            email_for(email_pattern[company.domain], af, al, company.domain) if rng.random() < 0.92 else None
        )
        phone = (
            f"{company.country.phone_prefix} {between(rng, 10, 99)} {between(rng, 1_000_000, 9_999_999)}"
            if rng.random() < 0.55
            else None
        )
        linkedin = (
            f"https://www.linkedin.com/in/{slug(af, '-')}-{slug(al, '-')}-{rng.getrandbits(24):06x}"
            if rng.random() < 0.9
            else None
        )
        city = company.city if rng.random() < 0.7 else pick(rng, company.country.cities)
        created = now_ms - between(rng, 60 * DAY_MS, 540 * DAY_MS)
        purchased = rng.random() < config.purchased_share
        purchased_at = purchased_by = None
        campaign_ids: list[str] | None = []
        status = "available"
        updated = created
        if purchased:
            status = "purchased"
            purchased_ms = between(rng, created + DAY_MS, max(created + DAY_MS, now_ms - 25 * DAY_MS))
            purchased_at = format_ts(purchased_ms)
            purchased_by = pick(rng, user_ids) if user_ids else None
            k = _CAMPAIGN_COUNT.pick(rng)
            campaign_ids = sorted(rng.sample(usable_campaigns, min(k, len(usable_campaigns))))
            updated = purchased_ms
        elif rng.random() < 0.04:
            status = "archived"
            campaign_ids = None
        if rng.random() < 0.1:
            updated = between(rng, updated, now_ms - HOUR_MS)
        prospects.append(
            {
                "id": new_id(rng, "prs"),
                "first_name": first,
                "last_name": last,
                "full_name": full,
                "title": _title(rng),
                "email": email,
                "phone": phone,
                "linkedin_url": linkedin,
                "company_name": company.name,
                "company_domain": company.domain,
                "company_website": company.website,
                "company_industry": company.industry,
                "company_size": company.size,
                "company_country": company.country.name,
                "location": f"{city}, {company.country.name}",
                "city": city,
                "country": company.country.name,
                "status": status,
                "purchased": purchased,
                "purchased_at": purchased_at,
                "purchased_by_user_id": purchased_by,
                "campaign_ids": campaign_ids,
                "custom_fields": _custom_fields(rng),
                "created_at": format_ts(created),
                "updated_at": format_ts(updated),
            }
        )
    return prospects


_EMAIL_SUBJECTS = (
    "Quick question about {company}",
    "{first}, idea for your {function} team",
    "Kurze Frage zu {company}",
    "Following up",
    "Re: pipeline visibility at {company}",
    "Une idée pour {company}",
)
_EMAIL_BODIES = (
    "Hi {first},\n\nI noticed {company} is growing its team. We help companies like yours cut "
    "prospecting time in half. Worth a 15-minute call next week?\n\nBest,\n{sender}",
    "Hallo {first},\n\nwir unterstützen Teams wie Ihres bei {company} dabei, schneller passende "
    "Ansprechpartner zu finden. Hätten Sie nächste Woche kurz Zeit?\n\nViele Grüße\n{sender}",
    "Bonjour {first},\n\nje me permets de vous écrire au sujet de {company}. Seriez-vous disponible "
    "pour un échange rapide ?\n\nCordialement,\n{sender}",
    "Hi {first}, just bumping this up in case it got buried. Happy to share a short case study "
    "from a company similar to {company}.\n\n— {sender}",
)
_LI_NOTES = (
    "Hi {first}, great to see what {company} is doing – would love to connect.",
    "Hej {first}! Vi jobbar med liknande bolag som {company}, låt oss connecta.",
    "Hi {first}, we met at the SaaStr Europa meetup – let's stay in touch.",
)
_LI_MESSAGES = (
    "Thanks for connecting, {first}! Curious how {company} handles outbound today?",
    "Danke fürs Vernetzen, {first}. Darf ich Ihnen kurz zeigen, wie wir {company} helfen könnten?",
    "{first}, quick one: who owns pipeline generation at {company}?",
)
_TOUCH_TYPES = (
    "email_sent",
    "linkedin_connection_request",
    "linkedin_message",
    "linkedin_inmail",
    "linkedin_profile_visit",
)
_TOUCH_WEIGHTS = (40, 15, 20, 8, 17)
_TOUCH_ANY = Weighted(_TOUCH_TYPES, _TOUCH_WEIGHTS)
_TOUCH_NO_EMAIL = Weighted(_TOUCH_TYPES[1:], _TOUCH_WEIGHTS[1:])


def make_touchpoint(
    rng: random.Random,
    prospect: dict[str, Any],
    executed_ms: int,
    user: dict[str, Any] | None,
    *,
    allow_email: bool,
) -> dict[str, Any]:
    """One executed outreach step for ``prospect`` (shared with the activity endpoint)."""
    kind = (_TOUCH_ANY if allow_email else _TOUCH_NO_EMAIL).pick(rng)
    sender = (user or {}).get("name") or "The Nordwind team"
    values = {
        "first": prospect.get("first_name") or "there",
        "company": prospect.get("company_name") or "your company",
        "function": pick(rng, FUNCTIONS).lower(),
        "sender": sender,
    }
    subject = body = None
    if kind == "email_sent":
        subject = pick(rng, _EMAIL_SUBJECTS).format(**values)
        body = pick(rng, _EMAIL_BODIES).format(**values)
    elif kind == "linkedin_connection_request":
        body = pick(rng, _LI_NOTES).format(**values) if rng.random() < 0.6 else None
    elif kind == "linkedin_message":
        body = pick(rng, _LI_MESSAGES).format(**values)
    elif kind == "linkedin_inmail":
        subject = pick(rng, _EMAIL_SUBJECTS).format(**values)
        body = pick(rng, _EMAIL_BODIES).format(**values)
    campaigns = prospect.get("campaign_ids") or []
    stamp = format_ts(executed_ms)
    return {
        "id": new_id(rng, "tp"),
        "prospect_id": prospect["id"],
        "campaign_id": pick(rng, campaigns) if campaigns else None,
        "user_id": user["id"] if user else None,
        "user_email": user["email"] if user else None,
        "channel": "email" if kind == "email_sent" else "linkedin",
        "type": kind,
        "subject": subject,
        "body": body,
        "executed_at": stamp,
        "created_at": stamp,
        "updated_at": stamp,
    }


def generate_touchpoints(
    config: GeneratorConfig, prospects: list[dict[str, Any]], users: list[dict[str, Any]], now_ms: int
) -> list[dict[str, Any]]:
    rng = _rng(config.seed, "touchpoints")
    by_id = {u["id"]: u for u in users}
    touchpoints: list[dict[str, Any]] = []
    for prospect in prospects:
        if not prospect["purchased"]:
            continue
        t = parse_ts(prospect["purchased_at"]) + between(rng, HOUR_MS, 2 * DAY_MS)
        purchaser = by_id.get(prospect["purchased_by_user_id"] or "")
        for _ in range(between(rng, 2, 5)):
            if t >= now_ms:
                break
            user = purchaser if purchaser is None or rng.random() < 0.85 else pick(rng, users)
            touchpoints.append(
                make_touchpoint(rng, prospect, t, user, allow_email=prospect["email"] is not None)
            )
            t += between(rng, DAY_MS, 5 * DAY_MS)
    return touchpoints


_SEARCH_TEMPLATES = (
    "{function} leaders in {country}",
    "{industry} – {function} decision makers",
    "Series B {industry} companies, {country}",
    "{function} at {size} employee companies",
    "Lookalikes of best customers ({country})",
)


def snapshot_result(
    rng: random.Random, search: dict[str, Any], prospect: dict[str, Any], created_ms: int
) -> dict[str, Any]:
    """A search result: what the search showed about ``prospect`` at ``created_ms``.

    The e-mail is only known when the prospect had been purchased by then (contact data is what
    a purchase buys), so most results must be matched on name, company and LinkedIn instead.
    """
    purchased_at = prospect.get("purchased_at")
    email_known = bool(prospect["purchased"] and purchased_at and parse_ts(purchased_at) <= created_ms)
    stamp = format_ts(created_ms)
    return {
        "id": new_id(rng, "res"),
        "search_id": search["id"],
        "search_name": search["name"],
        "prospect_id": prospect["id"],
        "first_name": prospect["first_name"],
        "last_name": prospect["last_name"],
        "full_name": prospect["full_name"],
        "title": prospect["title"],
        "email": prospect["email"] if email_known else None,
        "company_name": prospect["company_name"],
        "company_domain": prospect["company_domain"],
        "company_website": prospect["company_website"],
        "linkedin_url": prospect["linkedin_url"],
        "created_at": stamp,
        "updated_at": stamp,
    }


def generate_searches(
    config: GeneratorConfig, prospects: list[dict[str, Any]], users: list[dict[str, Any]], now_ms: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = _rng(config.seed, "searches")
    searches: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    if not prospects:
        return searches, results
    for _ in range(config.searches):
        name = rng.choice(_SEARCH_TEMPLATES).format(
            function=rng.choice(FUNCTIONS),
            country=COUNTRY_PICKER.pick(rng).name,
            industry=rng.choice(INDUSTRIES),
            size=rng.choice(COMPANY_SIZES),
        )
        created = now_ms - rng.randint(5 * DAY_MS, 200 * DAY_MS)
        search = {
            "id": new_id(rng, "srch"),
            "name": name,
            "user_id": rng.choice(users)["id"] if users else None,
            "created_at": format_ts(created),
            "updated_at": format_ts(created),
        }
        low = max(1, config.results_per_search // 2)
        count = min(len(prospects), rng.randint(low, max(low, config.results_per_search * 3 // 2)))
        last = created
        for prospect in rng.sample(prospects, count):
            last = created + rng.randint(0, 10 * 60_000)
            results.append(snapshot_result(rng, search, prospect, last))
        search["updated_at"] = format_ts(max(last, parse_ts(search["updated_at"])))
        searches.append(search)
    return searches, results


def generate(config: GeneratorConfig) -> Dataset:
    now_ms = parse_ts(config.now)
    companies = generate_companies(config)
    users = generate_users(config, now_ms)
    campaigns = generate_campaigns(config, users, now_ms)
    prospects = generate_prospects(config, companies, users, campaigns, now_ms)
    touchpoints = generate_touchpoints(config, prospects, users, now_ms)
    searches, results = generate_searches(config, prospects, users, now_ms)
    return Dataset(config, users, campaigns, prospects, searches, results, touchpoints, companies)
