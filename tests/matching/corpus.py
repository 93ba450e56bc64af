"""The labelled matching corpus: company pairs (an Andsend prospect's company against an existing
Account, same company or not) and person pairs (a prospect against an existing Lead or Contact).

Generated deterministically from a seed; ``python -m tests.matching.corpus`` rewrites the
committed ``company_pairs.jsonl`` and ``person_pairs.jsonl`` (a test checks they are current).
Company names are unique per pair (no pair can match another pair's Account by accident), built
from each country's words; legal forms are written as that country writes them. The cases, each a
``category``:

same company
  ``form``        another legal form of its country, or none; dotted or not; other case
  ``prefix``      a form written before the name (``AB X (publ)``, ``ООО «X»``, ``株式会社X``, ``PT X``)
  ``translit``    Müller / Mueller / Muller, other diacritics, Cyrillic and Japanese names in Latin
  ``and``         ``&`` / ``and`` / ``und`` / ``et`` / ``y`` ...; a leading "The"; spacing, punctuation
  ``website``     another name (trading name), the Website in a usual spelling
  ``website_path`` the same name, a Website with a path, query, port or subdomain
  ``work_email``  no company domain: the work e-mail's domain is the Account's website
  ``colleagues``  two prospects of the company in one batch, one with a domain, one with the name only
different companies
  ``other_country`` the same name core in another country, with another domain
  ``other_word``  "Acme Holding" vs "Acme Logistics": the same first word, another activity
  ``same_suffix`` ``foo.co.uk`` vs ``bar.co.uk`` (the public suffix is no company)
  ``free_mail``   a free-mail address; an Account whose Website is that provider
  ``platform``    a page on a shared platform (facebook.com/..., etsy.com/shop/..., x.wixsite.com)
  ``other_email`` no own domain, an e-mail at another company's domain (a client's, a parent's)
  ``short``       very short names
  ``new_colleagues`` two prospects of a company the org lacks: one new Account, not two
"""

from __future__ import annotations

import json
import random
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
COMPANY_FILE = HERE / "company_pairs.jsonl"
PERSON_FILE = HERE / "person_pairs.jsonl"
SEED = 20
# Extra e-mail fields the person corpus's org has (and the target is configured to match on).
ALT_EMAIL_FIELDS = ("Work_Email__c", "npe01__AlternateEmail__c", "npe01__WorkEmail__c")

# Country -> (top-level domain, legal forms as written there, "and", name words).
COUNTRIES: dict[str, tuple[str, tuple[str, ...], str, tuple[str, ...]]] = {
    "DE": ("de", ("GmbH", "AG", "SE", "GmbH & Co. KG", "KG", "UG (haftungsbeschränkt)", "e.K.", "OHG", "mbH"),
           "und", ("Nord", "Rhein", "Alpen", "Elbe", "Main", "Harz", "Technik", "Werke", "Bau", "Logistik",
                   "Anlagen", "Maschinen", "Brücke", "Grün", "Sonnen", "Wärme", "Lüftung", "Schäfer")),
    "AT": ("at", ("GmbH", "AG", "KG", "OG"), "und",
           ("Donau", "Tirol", "Alm", "Berg", "Holz", "Glas", "Stahl", "Kraft", "Tauern", "Wörther")),
    "CH": ("ch", ("AG", "GmbH", "SA", "Sàrl", "Sagl"), "und",
           ("Helvetia", "Jura", "Säntis", "Léman", "Uhren", "Präzision", "Matterhorn", "Zürich")),
    "FR": ("fr", ("SAS", "S.A.S.", "SA", "S.A.", "SARL", "S.A.R.L.", "SASU", "EURL", "SNC", "SCOP"), "et",
           ("Lumière", "Horizon", "Azur", "Atlas", "Conseil", "Industries", "Numérique", "Étoile", "Océan",
            "Provence", "Château", "Forêt")),
    "BE": ("be", ("NV", "BV", "SA", "SRL", "BVBA", "SPRL", "CVBA"), "en",
           ("Schelde", "Ardennen", "Brabant", "Meuse", "Vlaams", "Wallonie", "Kust", "Polder")),
    "LU": ("lu", ("S.A.", "S.à r.l.", "SARL", "SCS"), "et", ("Moselle", "Alzette", "Ducal", "Kirchberg")),
    "NL": ("nl", ("B.V.", "BV", "N.V.", "NV", "V.O.F.", "C.V."), "en",
           ("Polder", "Tulp", "Delta", "Molen", "Dijk", "Gracht", "Haven", "Wind", "Zeeland")),
    "ES": ("es", ("S.L.", "SL", "S.A.", "SA", "S.L.U.", "S.Coop."), "y",
           ("Iberia", "Sol", "Castilla", "Mar", "Tecnología", "Energía", "Logística", "Andalucía", "Nieve")),
    "PT": ("pt", ("Lda.", "Lda", "S.A.", "Unipessoal Lda."), "e",
           ("Atlântico", "Tejo", "Douro", "Luz", "Serviços", "Minho", "Algarve", "Açores")),
    "IT": ("it", ("S.r.l.", "SRL", "Srl", "S.p.A.", "SpA", "S.n.c.", "S.a.s.", "S.r.l.s."), "e",
           ("Adriatica", "Vesuvio", "Dolomiti", "Laguna", "Tecnologie", "Sistemi", "Meccanica", "Toscana",
            "Romano", "Lombarda", "Etna", "Cantieri")),
    "BR": ("com.br", ("Ltda.", "LTDA", "S.A.", "EIRELI", "ME"), "e",
           ("Paulista", "Cerrado", "Amazônia", "Guanabara", "Soluções", "Agro", "Pampa", "Sertão")),
    "MX": ("com.mx", ("S.A. de C.V.", "SA de CV", "S. de R.L. de C.V."), "y",
           ("Azteca", "Maya", "Sierra", "Jalisco", "Baja", "Pacífico")),
    "AR": ("com.ar", ("S.A.", "S.R.L.", "S.A.S."), "y", ("Pampa", "Plata", "Andes", "Patagonia", "Cuyo")),
    "CL": ("cl", ("S.A.", "SpA", "Ltda."), "y", ("Andino", "Atacama", "Austral", "Maule", "Biobío")),
    "CO": ("com.co", ("S.A.S.", "S.A.", "Ltda."), "y", ("Caribe", "Cafetera", "Orinoco", "Antioquia")),
    "DK": ("dk", ("A/S", "ApS", "I/S", "P/S"), "og",
           ("Øresund", "Nordlys", "Hav", "Skov", "Fyn", "Jylland", "Strand", "Bølge")),
    "NO": ("no", ("AS", "ASA", "ANS", "DA"), "og",
           ("Fjord", "Nordkapp", "Havbris", "Fjell", "Bergen", "Vidde", "Lofoten", "Isbre")),
    "SE": ("se", ("AB", "AB (publ)", "HB", "KB"), "och",
           ("Norr", "Skär", "Älv", "Vinter", "Skog", "Fjäll", "Malm", "Sjö", "Björk")),
    "FI": ("fi", ("Oy", "Oyj", "Ky", "Ay"), "ja",
           ("Revontuli", "Järvi", "Kuusi", "Sisu", "Lumi", "Metsä", "Saimaa", "Tunturi")),
    "IS": ("is", ("ehf.", "hf.", "sf."), "og", ("Hekla", "Jökull", "Geysir", "Katla", "Esja")),
    "PL": ("pl", ("Sp. z o.o.", "sp. z o.o.", "S.A.", "Sp.k.", "Sp. j.", "spółka z o.o."), "i",
           ("Wisła", "Mazowsze", "Bałtyk", "Tatry", "Śląsk", "Warta", "Odra", "Kraków")),
    "CZ": ("cz", ("s.r.o.", "a.s.", "spol. s r.o.", "v.o.s."), "a",
           ("Vltava", "Morava", "Šumava", "Krkonoše", "Labe", "Beskydy")),
    "SK": ("sk", ("s.r.o.", "a.s."), "a", ("Tatra", "Dunaj", "Hron", "Fatra")),
    "HU": ("hu", ("Kft.", "Zrt.", "Nyrt.", "Bt."), "és", ("Duna", "Tisza", "Balaton", "Mátra", "Alföld")),
    "RO": ("ro", ("S.R.L.", "SRL", "S.A."), "și", ("Carpați", "Dunărea", "Banat", "Delta")),
    "HR": ("hr", ("d.o.o.", "d.d.", "j.d.o.o."), "i", ("Jadran", "Dalmacija", "Sava", "Istra")),
    "SI": ("si", ("d.o.o.", "d.d.", "s.p."), "in", ("Triglav", "Soča", "Krka", "Bled")),
    "BG": ("bg", ("OOD", "EOOD", "AD", "EAD"), "i", ("Balkan", "Rila", "Pirin", "Struma")),
    "GR": ("gr", ("S.A.", "A.E.", "EPE", "IKE"), "kai", ("Aegean", "Olympus", "Ionian", "Attica")),
    "TR": ("com.tr", ("A.Ş.", "A.S.", "Ltd. Şti.", "Ltd. Sti.", "San. ve Tic. A.Ş."), "ve",
           ("Anadolu", "Boğaziçi", "Ege", "Marmara", "Toros", "Kapadokya", "Çelik", "Yıldız")),
    "RU": ("ru", ("ООО", "OOO", "АО", "LLC", "JSC", "PJSC"), "i",
           ("Ромашка", "Вектор", "Заря", "Сибирь", "Гранит", "Восток", "Алмаз", "Меридиан", "Байкал", "Волга")),
    "UA": ("com.ua", ("ТОВ", "TOV", "LLC"), "i", ("Дніпро", "Карпати", "Поділля", "Світанок")),
    "EE": ("ee", ("OÜ", "AS"), "ja", ("Läänemere", "Saare", "Peipsi", "Toompea")),
    "LT": ("lt", ("UAB", "AB", "MB"), "ir", ("Nemunas", "Baltija", "Neris", "Aukštaitija")),
    "LV": ("lv", ("SIA", "AS"), "un", ("Daugava", "Gauja", "Kurzeme", "Rīga")),
    "GB": ("co.uk", ("Ltd", "Ltd.", "Limited", "PLC", "plc", "LLP"), "and",
           ("Thames", "Albion", "Pennine", "Highland", "Analytics", "Systems", "Logistics", "Harbour",
            "Severn", "Cotswold")),
    "IE": ("ie", ("Ltd", "Limited", "DAC", "PLC", "Teoranta"), "and",
           ("Liffey", "Emerald", "Shannon", "Clover", "Atlantic", "Burren")),
    "US": ("com", ("Inc.", "Inc", ", Inc.", "LLC", "L.L.C.", "Corp.", "Corporation", "Co.", "Company", "LP"),
           "and", ("Summit", "Redwood", "Liberty", "Granite", "Labs", "Health", "Prairie", "Cascade", "Bayou",
                   "Mesa", "Frontier", "Keystone")),
    "CA": ("ca", ("Inc.", "Ltd.", "Corp.", "ULC", "Ltée"), "and", ("Maple", "Boreal", "Tundra", "Rideau", "Fundy")),
    "AU": ("com.au", ("Pty Ltd", "Pty. Ltd.", "Ltd"), "and", ("Outback", "Coral", "Eucalypt", "Murray", "Kimberley")),
    "NZ": ("co.nz", ("Ltd", "Limited"), "and", ("Kiwi", "Aotea", "Tasman", "Rimu")),
    "IN": ("co.in", ("Pvt Ltd", "Pvt. Ltd.", "Private Limited", "Ltd", "LLP"), "and",
           ("Ganga", "Deccan", "Himalaya", "Lotus", "Indus", "Kaveri")),
    "SG": ("com.sg", ("Pte Ltd", "Pte. Ltd."), "and", ("Merlion", "Temasek", "Sentosa", "Orchid")),
    "MY": ("com.my", ("Sdn Bhd", "Sdn. Bhd.", "Bhd"), "dan", ("Borneo", "Melaka", "Kinabalu", "Penang")),
    "ID": ("co.id", ("PT", "Tbk"), "dan", ("Nusantara", "Garuda", "Merapi", "Bali")),
    "JP": ("co.jp", ("株式会社", "K.K.", "Co., Ltd.", "Inc.", "G.K."), "and",
           ("ミドリ", "サクラ", "ヤマト", "ハヤテ", "ミライ", "アサヒ", "ヒカリ", "ツバサ")),
    "CN": ("com.cn", ("Co., Ltd.", "Ltd.", "Co. Ltd"), "and", ("Huaxin", "Zhongda", "Tianli", "Longteng", "Jinhai")),
    "KR": ("co.kr", ("Co., Ltd.", "Inc.", "Corp."), "and", ("Hanbit", "Saebyeok", "Mirae", "Hana", "Daehan")),
    "HK": ("com.hk", ("Limited", "Ltd"), "and", ("Kowloon", "Victoria", "Harbourfront", "Lantau")),
    "ZA": ("co.za", ("(Pty) Ltd", "Pty Ltd", "Ltd"), "and", ("Karoo", "Kalahari", "Drakensberg", "Protea")),
    "IL": ("co.il", ("Ltd", "Ltd."), "and", ("Negev", "Carmel", "Galil", "Yarden")),
    "AE": ("ae", ("LLC", "FZE", "FZ-LLC"), "and", ("Oasis", "Falcon", "Dune", "Marina")),
}
ACTIVITIES = ("Logistics", "Holding", "Consulting", "Software", "Foods", "Energy", "Medical", "Capital",
              "Textiles", "Robotics", "Media", "Pharma", "Marine", "Design", "Studios", "Analytics")
FREE_MAIL = ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "gmx.de", "web.de", "orange.fr", "libero.it",
             "yandex.ru", "mail.ru", "qq.com", "163.com", "naver.com", "wp.pl", "seznam.cz", "icloud.com",
             "proton.me", "aol.com", "t-online.de", "laposte.net", "uol.com.br", "yahoo.co.jp")
FIRST = ("Ann", "Bo", "Chen", "Dana", "Emil", "Fatma", "Giulia", "Hiro", "Ines", "Jonas", "Kai", "Lena", "Marta",
         "Nils", "Olga", "Pavel", "Rita", "Sven", "Tariq", "Ute", "Vera", "Wim", "Yara", "Zoe")
LAST = ("Lee", "Berg", "Costa", "Dahl", "Ekström", "Fischer", "García", "Horvat", "Ivanova", "Jensen", "Kowalski",
        "Lind", "Moreau", "Novak", "Okafor", "Popescu", "Quinn", "Rossi", "Sato", "Tanaka", "Uysal", "Virtanen")
_SYLLABLES = ("ka", "lo", "mi", "ra", "ten", "vo", "ser", "dan", "bel", "tor", "nix", "qua", "zel", "pra", "lun",
              "mar", "fen", "gor", "hal", "jus", "kor", "lis", "nor", "pel", "rin", "sol", "tav", "ulm", "ver", "wex")


def slug(text: str) -> str:
    from anyascii import anyascii  # the corpus's own domains are ASCII, as registrars mostly require

    folded = anyascii(unicodedata.normalize("NFKC", text)).lower()
    return "".join(ch for ch in folded if ch.isalnum()) or "x"


class _Names:
    """Unique company cores: a word of the country plus a made-up word (no pair shares a core)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.seen: set[str] = set()

    def made_up(self) -> str:
        return "".join(self.rng.choice(_SYLLABLES) for _ in range(self.rng.choice((2, 3)))).capitalize()

    def core(self, country: str, words: int = 2) -> str:
        vocab = COUNTRIES[country][3]
        while True:
            parts = [self.rng.choice(vocab)] + [self.made_up() for _ in range(words - 1)]
            if words == 1:
                core = self.rng.choice(vocab) + self.made_up().lower()
            elif country in ("JP",):
                core = "".join([self.rng.choice(vocab), self.rng.choice(vocab)]) + self.made_up()
            else:
                self.rng.shuffle(parts)
                core = " ".join(parts)
            key = slug(core)
            if key not in self.seen:
                self.seen.add(key)
                return core

    def short(self) -> str:
        while True:
            letters = "".join(self.rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(self.rng.choice((2, 3, 3))))
            core = letters.upper() if self.rng.random() < 0.5 else letters.capitalize()
            if slug(core) not in self.seen:
                self.seen.add(slug(core))
                return core


def _with_form(core: str, form: str | None) -> str:
    if not form:
        return core
    if form in ("株式会社",):
        return f"{form}{core}"
    if form in ("ООО", "OOO", "АО", "ТОВ", "TOV", "PT", "UAB", "SIA"):
        return f"{form} «{core}»" if form in ("ООО", "АО", "ТОВ") else f"{form} {core}"
    if form.startswith(","):
        return f"{core}{form}"
    return f"{core} {form}"


def _website(rng: random.Random, domain: str, style: str) -> str:
    if style == "usual":
        return rng.choice((domain, f"www.{domain}", f"https://{domain}", f"http://www.{domain}/",
                           f"https://www.{domain}", f"https://www.{domain}/", f"HTTPS://WWW.{domain.upper()}/"))
    return rng.choice((f"https://www.{domain}/en/contact", f"https://{domain}/about-us?utm_source=crm",
                       f"http://{domain}:8080/", f"https://shop.{domain}/", f"https://en.{domain}/home",
                       f"www.{domain}/de/impressum", f"https://{domain}/#team", f"https://careers.{domain}/jobs?x=1",
                       f"{domain}/index.php?id=3"))


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.names = _Names(self.rng)
        self.pairs: list[dict[str, Any]] = []
        self.n_person = 0

    def person(self, domain: str | None, *, free: str | None = None) -> dict[str, str]:
        self.n_person += 1
        first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
        host = free or domain or self.rng.choice(FREE_MAIL)
        return {"first_name": first, "last_name": last,
                "email": f"{slug(first)}.{slug(last)}.{self.n_person}@{host}"}

    def add(self, category: str, label: str, country: str, prospects: list[dict], account: dict) -> None:
        pid = f"c{len(self.pairs):05d}"
        for n, p in enumerate(prospects):
            p.setdefault("company_country", country)
            p["id"] = f"{pid}-{n}"
        self.pairs.append({"pair": pid, "category": category, "label": label, "country": country,
                           "prospects": prospects, "account": account})

    def country(self) -> str:
        return self.rng.choice(sorted(COUNTRIES))

    def forms(self, country: str) -> tuple[str, ...]:
        return COUNTRIES[country][1]

    def recase(self, text: str) -> str:
        return self.rng.choice((text, text, text.upper(), text.lower() if text.isascii() else text))

    # -- same company ------------------------------------------------------------------------

    def same_form(self) -> None:
        c = self.country()
        core = self.names.core(c)
        tld = COUNTRIES[c][0]
        domain = f"{slug(core)}.{tld}"
        form_a = self.rng.choice(self.forms(c))
        form_b = self.rng.choice((*self.forms(c), None))
        prospect = {"company_name": _with_form(core, form_a), **self._domain_fields(domain)}
        prospect.update(self.person(domain if self.rng.random() < 0.6 else None))
        website = self.rng.choice((None, None, _website(self.rng, domain, "usual"), _website(self.rng, domain, "odd")))
        self.add("form", "same", c, [prospect], {"Name": self.recase(_with_form(core, form_b)), "Website": website})

    def _domain_fields(self, domain: str) -> dict[str, str]:
        r = self.rng.random()
        if r < 0.5:
            return {"company_domain": domain}
        if r < 0.8:
            return {"company_website": _website(self.rng, domain, self.rng.choice(("usual", "odd")))}
        return {}

    def same_prefix(self) -> None:
        c = self.rng.choice(("SE", "RU", "JP", "ID", "SE", "RU"))
        core = self.names.core(c)
        if c == "SE":
            a, b = f"AB {core} (publ)", self.rng.choice((f"{core} AB", core, f"{core} AB (publ)"))
        elif c == "RU":
            from anyascii import anyascii

            a = self.rng.choice((f"ООО «{core}»", f"АО «{core}»", f"ООО \"{core}\""))
            b = self.rng.choice((f"{core}", f"OOO {anyascii(core)}", f"{anyascii(core)} LLC", f"ООО {core}"))
        elif c == "JP":
            from anyascii import anyascii

            a = f"株式会社{core}"
            b = self.rng.choice((f"{anyascii(core).capitalize()} K.K.", f"{core}株式会社", f"{anyascii(core).upper()}"))
        else:
            a, b = f"PT {core} Tbk", self.rng.choice((f"PT {core}", core, f"{core} Tbk"))
        domain = f"{slug(core)}.{COUNTRIES[c][0]}"
        prospect = {"company_name": a, **self._domain_fields(domain), **self.person(None)}
        website = self.rng.choice((None, None, _website(self.rng, domain, "odd")))
        self.add("prefix", "same", c, [prospect], {"Name": b, "Website": website})

    def same_translit(self) -> None:
        c = self.rng.choice(("DE", "DE", "AT", "CH", "TR", "PL", "CZ", "FR", "SE", "DK", "RU", "IS", "HU"))
        from anyascii import anyascii

        core = self.names.core(c)
        for _ in range(200):
            if anyascii(core) != core or c in ("DE", "AT", "CH"):
                break
            core = self.names.core(c)
        if c in ("DE", "AT", "CH"):
            umlauted = f"{self.rng.choice(('Müller', 'Schäfer', 'Köhler', 'Größ', 'Jäger', 'Bäcker'))} {core}"
            self.names.seen.add(slug(umlauted))
            spelled = (umlauted.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("ß", "ss"))
            plain = anyascii(umlauted)
            a, b = self.rng.choice(((umlauted, spelled), (spelled, umlauted), (umlauted, plain), (plain, umlauted)))
        else:
            a, b = self.rng.choice(((core, anyascii(core)), (anyascii(core), core)))
        form = self.rng.choice(self.forms(c))
        domain = f"{slug(anyascii(a))}.{COUNTRIES[c][0]}"
        prospect = {"company_name": _with_form(a, form), **self._domain_fields(domain), **self.person(None)}
        self.add("translit", "same", c, [prospect],
                 {"Name": _with_form(b, self.rng.choice((form, None))), "Website": self.rng.choice((None, domain))})

    def same_and(self) -> None:
        c = self.country()
        if c in ("JP", "RU", "UA"):
            c = "DE"
        core1, core2 = self.names.core(c, 1), self.names.made_up()
        self.names.seen.add(slug(core2))
        joiner = COUNTRIES[c][2]
        style = self.rng.randrange(3)
        if style == 0:
            a, b = f"{core1} & {core2}", f"{core1} {joiner} {core2}"
        elif style == 1:
            a, b = f"{core1} {joiner} {core2}", f"{core1} & {core2}"
        else:
            a, b = f"The {core1} {core2}", f"{core1} {core2}"
        form = self.rng.choice(self.forms(c))
        prospect = {"company_name": _with_form(a, form), **self.person(None)}
        self.add("and", "same", c, [prospect], {"Name": _with_form(b, self.rng.choice((form, None))), "Website": None})

    def same_website(self) -> None:
        c = self.country()
        core = self.names.core(c)
        domain = f"{slug(core)}.{COUNTRIES[c][0]}"
        trading = f"{core} {self.rng.choice(('Group', 'Deutschland', 'International', 'Europe', 'Nordic'))}"
        a, b = self.rng.choice(((core, trading), (trading, core)))
        prospect = {"company_name": _with_form(a, self.rng.choice(self.forms(c))), "company_domain": domain,
                    **self.person(domain)}
        self.add("website", "same", c, [prospect], {"Name": b, "Website": _website(self.rng, domain, "usual")})

    def same_website_path(self) -> None:
        c = self.country()
        core = self.names.core(c)
        domain = f"{slug(core)}.{COUNTRIES[c][0]}"
        prospect = {"company_name": _with_form(core, self.rng.choice(self.forms(c))), **self.person(domain),
                    **self.rng.choice(({"company_domain": domain},
                                       {"company_website": _website(self.rng, domain, "odd")}))}
        self.add("website_path", "same", c, [prospect],
                 {"Name": _with_form(core, self.rng.choice((*self.forms(c), None))),
                  "Website": _website(self.rng, domain, "odd")})

    def same_work_email(self) -> None:
        c = self.country()
        core = self.names.core(c)
        domain = f"{slug(core)}.{COUNTRIES[c][0]}"
        prospect = {"company_name": _with_form(core, self.rng.choice(self.forms(c))), **self.person(domain)}
        self.add("work_email", "same", c, [prospect],
                 {"Name": _with_form(core, self.rng.choice((*self.forms(c), None))),
                  "Website": _website(self.rng, domain, self.rng.choice(("usual", "odd")))})

    def same_colleagues(self) -> None:
        c = self.country()
        core = self.names.core(c)
        domain = f"{slug(core)}.{COUNTRIES[c][0]}"
        form = self.rng.choice(self.forms(c))
        one = {"company_name": _with_form(core, form), "company_domain": domain, **self.person(domain)}
        two = {"company_name": _with_form(core, self.rng.choice(self.forms(c))), **self.person(None)}
        self.add("colleagues", "same", c, [one, two],
                 {"Name": _with_form(core, self.rng.choice((form, None))),
                  "Website": self.rng.choice((None, _website(self.rng, domain, "usual")))})

    # -- different companies -----------------------------------------------------------------

    def diff_other_country(self) -> None:
        c1 = self.country()
        c2 = self.rng.choice([k for k in sorted(COUNTRIES) if COUNTRIES[k][0] != COUNTRIES[c1][0]])
        core = self.names.core(c1)
        d1, d2 = f"{slug(core)}.{COUNTRIES[c1][0]}", f"{slug(core)}.{COUNTRIES[c2][0]}"
        if self.rng.random() < 0.3:
            d2 = f"{slug(core)}-{slug(self.names.made_up())}.{COUNTRIES[c2][0]}"
        prospect = {"company_name": _with_form(core, self.rng.choice(self.forms(c1))),
                    **self.rng.choice(({"company_domain": d1}, {"company_website": _website(self.rng, d1, "usual")})),
                    **self.person(d1)}
        self.add("other_country", "different", c1, [prospect],
                 {"Name": _with_form(core, self.rng.choice(self.forms(c2))),
                  "Website": _website(self.rng, d2, self.rng.choice(("usual", "odd"))), "BillingCountry": c2})

    def diff_other_word(self) -> None:
        c = self.country()
        first = self.names.core(c, 1) + " " + self.names.made_up()
        a, b = self.rng.sample(ACTIVITIES, 2)
        with_domain = self.rng.random() < 0.5
        da, db = f"{slug(first + a)}.{COUNTRIES[c][0]}", f"{slug(first + b)}.{COUNTRIES[c][0]}"
        prospect = {"company_name": _with_form(f"{first} {a}", self.rng.choice(self.forms(c))),
                    **({"company_domain": da} if with_domain else {}), **self.person(da if with_domain else None)}
        self.add("other_word", "different", c, [prospect],
                 {"Name": _with_form(f"{first} {b}", self.rng.choice(self.forms(c))),
                  "Website": self.rng.choice((None, _website(self.rng, db, "usual")))})

    def diff_same_suffix(self) -> None:
        c = self.rng.choice(("GB", "AU", "NZ", "JP", "BR", "ZA", "IN", "KR", "TR", "MX"))
        core_a, core_b = self.names.core(c), self.names.core(c)
        tld = COUNTRIES[c][0]
        da, db = f"{slug(core_a)}.{tld}", f"{slug(core_b)}.{tld}"
        prospect = {"company_name": _with_form(core_a, self.rng.choice(self.forms(c))), "company_domain": da,
                    **self.person(da)}
        # The same company name written once more, on another company's domain under the same suffix:
        shared = self.rng.random() < 0.5
        self.add("same_suffix", "different", c, [prospect],
                 {"Name": _with_form(core_a if shared else core_b, self.rng.choice(self.forms(c))),
                  "Website": _website(self.rng, db, "usual")})

    def diff_free_mail(self) -> None:
        c = self.country()
        core = self.names.core(c)
        provider = self.rng.choice(FREE_MAIL)
        prospect = {"company_name": _with_form(core, self.rng.choice(self.forms(c))),
                    **self.person(None, free=provider)}
        other = self.names.core(c)
        self.add("free_mail", "different", c, [prospect],
                 {"Name": self.rng.choice((other, provider.split(".")[0].capitalize() + " " + self.names.made_up())),
                  "Website": self.rng.choice((provider, f"https://www.{provider}/", f"https://mail.{provider}"))})

    def diff_platform(self) -> None:
        c = self.country()
        core_a, core_b = self.names.core(c), self.names.core(c)
        sa, sb = slug(core_a), slug(core_b)
        pages = (
            lambda s: f"https://www.facebook.com/{s}", lambda s: f"https://www.etsy.com/shop/{s}",
            lambda s: f"https://sites.google.com/view/{s}", lambda s: f"https://{s}.wixsite.com/home",
            lambda s: f"https://{s}.github.io/", lambda s: f"https://www.linkedin.com/company/{s}/",
            lambda s: f"https://{s}.myshopify.com", lambda s: f"https://{s}.wordpress.com",
            lambda s: f"https://instagram.com/{s}", lambda s: f"https://{s}.blogspot.com",
        )
        page = self.rng.choice(pages)
        prospect = {"company_name": _with_form(core_a, self.rng.choice(self.forms(c))), "company_website": page(sa),
                    **self.person(None)}
        self.add("platform", "different", c, [prospect],
                 {"Name": _with_form(core_b, self.rng.choice(self.forms(c))), "Website": page(sb)})

    def diff_other_email(self) -> None:
        c = self.country()
        core_a, core_b = self.names.core(c), self.names.core(c)
        db = f"{slug(core_b)}.{COUNTRIES[c][0]}"
        prospect = {"company_name": _with_form(core_a, self.rng.choice(self.forms(c))), **self.person(db)}
        self.add("other_email", "different", c, [prospect],
                 {"Name": _with_form(core_b, self.rng.choice(self.forms(c))),
                  "Website": _website(self.rng, db, "usual")})

    def diff_short(self) -> None:
        c = self.country()
        a = self.names.short()
        style = self.rng.randrange(3)
        if style == 0:  # the same short name, other domains
            b = a
            da, db = f"{slug(a)}-{slug(self.names.made_up())}.{COUNTRIES[c][0]}", f"{slug(a)}.com"
        elif style == 1:  # one letter apart
            b = self.names.short()
            da, db = f"{slug(a)}.{COUNTRIES[c][0]}", f"{slug(b)}.{COUNTRIES[c][0]}"
        else:  # the short name inside a longer one
            b = f"{a} {self.rng.choice(ACTIVITIES)}"
            da, db = f"{slug(a)}.{COUNTRIES[c][0]}", f"{slug(b)}.{COUNTRIES[c][0]}"
        prospect = {"company_name": _with_form(a, self.rng.choice(self.forms(c))), "company_domain": da,
                    **self.person(da)}
        self.add("short", "different", c, [prospect],
                 {"Name": _with_form(b, self.rng.choice(self.forms(c))), "Website": _website(self.rng, db, "usual")})

    def diff_new_colleagues(self) -> None:
        c = self.country()
        core = self.names.core(c)
        domain = f"{slug(core)}.{COUNTRIES[c][0]}"
        one = {"company_name": _with_form(core, self.rng.choice(self.forms(c))), "company_domain": domain,
               **self.person(domain)}
        two = {"company_name": _with_form(core, self.rng.choice(self.forms(c))), **self.person(None)}
        other = self.names.core(c)
        self.add("new_colleagues", "different", c, [one, two],
                 {"Name": _with_form(other, self.rng.choice(self.forms(c))),
                  "Website": _website(self.rng, f"{slug(other)}.{COUNTRIES[c][0]}", "usual")})


PLAN = (
    ("same_form", 450), ("same_prefix", 90), ("same_translit", 160), ("same_and", 120),
    ("same_website", 220), ("same_website_path", 180), ("same_work_email", 120), ("same_colleagues", 80),
    ("diff_other_country", 260), ("diff_other_word", 150), ("diff_same_suffix", 110), ("diff_free_mail", 120),
    ("diff_platform", 150), ("diff_other_email", 100), ("diff_short", 120), ("diff_new_colleagues", 50),
)


def company_pairs(seed: int = SEED) -> list[dict[str, Any]]:
    builder = _Builder(seed)
    for method, count in PLAN:
        for _ in range(count):
            getattr(builder, method)()
    order = list(range(len(builder.pairs)))
    random.Random(seed + 1).shuffle(order)  # categories interleaved across batches
    return [builder.pairs[i] for i in order]


# ------------------------------------------------------------------------------------- people


def person_pairs(seed: int = SEED) -> list[dict[str, Any]]:
    """A prospect against an existing Lead or Contact: ``same`` when the documented rules say it is
    that person (e-mail equal ignoring case; or equal to a configured alternate e-mail field of a
    Contact); ``different`` otherwise, including a plus-tagged address (compared whole)."""
    rng = random.Random(seed + 2)
    out: list[dict[str, Any]] = []

    def add(category: str, label: str, prospect_email: str, record: dict[str, Any]) -> None:
        pid = f"p{len(out):05d}"
        out.append({"pair": pid, "category": category, "label": label,
                    "prospect": {"id": pid, "email": prospect_email, "first_name": rng.choice(FIRST),
                                 "last_name": rng.choice(LAST), "company_name": f"Firm {pid}"},
                    "record": record})

    for n in range(900):
        local = f"{slug(rng.choice(FIRST))}.{slug(rng.choice(LAST))}{n}"
        name = slug(rng.choice(_SYLLABLES) + rng.choice(_SYLLABLES))
        domain = f"{name}{n}.{rng.choice(('com', 'de', 'co.uk', 'fr'))}"
        email = f"{local}@{domain}"
        obj = rng.choice(("Lead", "Contact"))
        kind = n % 9
        if kind in (0, 1):
            stored = rng.choice((email.upper(), email.title(), f"{local.capitalize()}@{domain.upper()}", email))
            add("email_case", "same", rng.choice((email, email.upper())), {"object": obj, "Email": stored})
        elif kind == 2:
            add("plus_tag", "different", f"{local}+andsend@{domain}", {"object": obj, "Email": email})
        elif kind == 3:
            add("plus_tag", "different", email, {"object": obj, "Email": f"{local}+crm@{domain}"})
        elif kind in (4, 5):
            fld = ALT_EMAIL_FIELDS[n % len(ALT_EMAIL_FIELDS)]
            add("alternate_field", "same", rng.choice((email, email.upper())),
                {"object": "Contact", "Email": f"old.{local}@former{n}.com", fld: email.title()})
        elif kind == 6:
            add("other_local_part", "different", email, {"object": obj, "Email": f"{local}x@{domain}"})
        elif kind == 7:
            add("other_domain", "different", email, {"object": obj, "Email": f"{local}@x{domain}"})
        else:
            add("alternate_other", "different", email,
                {"object": "Contact", "Email": f"{local}@other{n}.com",
                 rng.choice(ALT_EMAIL_FIELDS): f"{local}@y{domain}"})
    return out


def _lines(rows: list[dict[str, Any]]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row, ensure_ascii=False, sort_keys=True)


def write(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("\n".join(_lines(rows)) + "\n", encoding="utf-8")


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main() -> None:
    write(COMPANY_FILE, company_pairs())
    write(PERSON_FILE, person_pairs())
    print(f"wrote {COMPANY_FILE.name} and {PERSON_FILE.name}")


if __name__ == "__main__":
    main()
