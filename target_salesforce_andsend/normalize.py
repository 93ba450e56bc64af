"""One normalisation for every comparison: lookups, deduplication and planning all use these.

Salesforce compares text case-insensitively in SOQL, so the lookups can send values as they are;
the Python side must then decide with the *same* notion of equality, which is what lives here.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# Legal-form suffixes stripped from company names before comparing ("Acme GmbH" == "ACME").
# Kept as token sequences so "Co., Ltd." and "Pty Ltd" are recognised word by word.
LEGAL_SUFFIXES: tuple[tuple[str, ...], ...] = tuple(
    tuple(s.split())
    for s in (
        "gmbh & co kg", "gmbh & co. kg", "pty ltd", "pvt ltd", "co ltd", "co., ltd", "sp z o o",
        "s a", "s r l", "b v", "n v",
        "gmbh", "ag", "kg", "ug", "se", "ab", "as", "asa", "oy", "oyj", "aps", "bv", "nv", "sa",
        "sas", "sarl", "srl", "spa", "sl", "plc", "llc", "llp", "lp", "ltd", "limited", "inc",
        "incorporated", "corp", "corporation", "co", "company", "kft", "sro", "doo", "pte",
    )
)

# Forms in which a legal suffix is commonly written in Salesforce Account names; used to build
# the (LIKE-free) IN list of name variants for the Account name lookup.
NAME_VARIANT_SUFFIXES: tuple[str, ...] = (
    "GmbH", "AG", "AB", "AS", "Oy", "ApS", "BV", "B.V.", "NV", "SA", "S.A.", "SAS", "SL", "Srl",
    "SpA", "plc", "PLC", "LLC", "Ltd", "Ltd.", "Limited", "Inc", "Inc.", ", Inc.", "Corp",
    "Corp.", "Corporation", "Co.", "GmbH & Co. KG",
)

# Free-mail providers: their domain says nothing about the prospect's company.
FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "yahoo.com",
        "icloud.com", "me.com", "aol.com", "gmx.de", "gmx.net", "web.de", "proton.me",
        "protonmail.com", "mail.com", "yandex.ru", "t-online.de",
    }
)


def normalize_email(value: str | None) -> str | None:
    """Trimmed and casefolded email, or None when the value is not shaped like an address."""
    if not isinstance(value, str):
        return None
    email = value.strip()
    if email.lower().startswith("mailto:"):
        email = email[7:].strip()
    if not _EMAIL_RE.match(email):
        return None
    return email.casefold()


def normalize_domain(value: str | None) -> str | None:
    """Registrable-looking host from a URL, bare host or email: lowercase, no scheme/www/port/path."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    if "@" in text and "://" not in text:
        text = text.rsplit("@", 1)[1]
    if "://" not in text:
        text = "//" + text
    try:
        host = urlsplit(text).hostname or ""
    except ValueError:
        return None
    host = host.strip(".").lower()
    try:
        # IDNA-encoded hosts compare equal to their Unicode spelling.
        host = host.encode("ascii").decode("idna") if host.startswith("xn--") or ".xn--" in host else host
    except UnicodeError:
        pass
    if host.startswith("www."):
        host = host[4:]
    if "." not in host or " " in host:
        return None
    return host


def _fold(value: str) -> str:
    """Casefold and strip accents' combining marks, so "Müller" and "MÜLLER" compare equal."""
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _tokens(value: str) -> list[str]:
    text = _fold(value).replace("&", " & ")
    # Punctuation becomes a separator; letters of any script and digits are kept.
    text = "".join(ch if (ch.isalnum() or ch == "&") else " " for ch in text)
    return text.split()


def normalize_company(value: str | None) -> str | None:
    """Casefolded company name without punctuation and trailing legal suffixes, or None if empty."""
    if not isinstance(value, str):
        return None
    tokens = _tokens(value)
    changed = True
    while changed and tokens:
        changed = False
        for suffix in LEGAL_SUFFIXES:
            folded = [t for part in suffix for t in _tokens(part)]
            n = len(folded)
            if n and len(tokens) > n and tokens[-n:] == folded:
                tokens = tokens[:-n]
                changed = True
                break
    if tokens and tokens[0] == "the" and len(tokens) > 1:
        tokens = tokens[1:]
    while tokens and tokens[-1] == "&":
        tokens = tokens[:-1]
    result = " ".join(tokens)
    return result or None


def company_core(value: str) -> str:
    """The company name as written, with trailing legal suffixes and punctuation trimmed off."""
    text = value.strip().rstrip(" ,.")
    suffixes = sorted({s.lstrip(", ").rstrip(".") for s in NAME_VARIANT_SUFFIXES}, key=len, reverse=True)
    found = True
    while found:
        found = False
        lowered = text.casefold()
        for bare in suffixes:
            tail = bare.casefold()
            if lowered.endswith(tail) and len(text) > len(tail) and text[-len(tail) - 1] in " ,":
                text = text[: -len(tail)].rstrip(" ,.")
                found = True
                break
    return text or value.strip()


def company_name_variants(value: str | None) -> list[str]:
    """Spellings under which an Account for this company is likely stored (for a batched IN).

    SOQL `IN` compares case-insensitively, so only the suffix forms vary; the candidates it
    returns are then confirmed in Python with `normalize_company` equality.
    """
    if not isinstance(value, str) or not value.strip():
        return []
    original = " ".join(value.split())
    core = company_core(original)
    variants = {original, core}
    for suffix in NAME_VARIANT_SUFFIXES:
        variants.add(f"{core}{suffix}" if suffix.startswith(",") else f"{core} {suffix}")
    if not original.isascii():
        # Case-insensitive SOQL comparison may fold ASCII letters only: send the usual casings of
        # non-ASCII names too ("BÜCHER MÜLLER" finds "Bücher Müller").
        variants |= {form for v in list(variants) for form in (v.lower(), v.upper(), v.title())}
    return sorted(v for v in variants if v)


def website_variants(domain: str) -> list[str]:
    """Ways a Website field commonly spells a normalised domain (for a batched IN lookup)."""
    out = []
    for scheme in ("", "http://", "https://"):
        for www in ("", "www."):
            for slash in ("", "/"):
                out.append(f"{scheme}{www}{domain}{slash}")
    return out


def company_domain_for(record: dict) -> str | None:
    """The prospect's company domain: company_domain, then company_website, then a work email."""
    for field in ("company_domain", "company_website"):
        domain = normalize_domain(record.get(field))
        if domain:
            return domain
    email = normalize_email(record.get("email"))
    if email:
        domain = email.rsplit("@", 1)[1]
        if domain not in FREE_MAIL_DOMAINS:
            return normalize_domain(domain)
    return None
