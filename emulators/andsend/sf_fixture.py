"""A Salesforce emulator fixture (docs/DESIGN.md seed format) that overlaps the generated Andsend data.

Built from the same ``GeneratorConfig`` as the Andsend emulator, so the org holds the same people
the tap will read: Users for a share of the Andsend users (same e-mail, sometimes in another
case, one inactive), and for a share of the purchased prospects records a matcher must find:

- ``lead``            a Lead with the prospect's e-mail (sometimes in another case)
- ``contact``         a Contact with the e-mail, under an Account for the company
- ``account_domain``  only an Account, found by website domain (written differently)
- ``account_name``    only an Account, found by company name (other legal suffix or case)
- ``converted_lead``  a converted Lead (same e-mail) pointing at its Contact and Account

plus a few Leads for people who only appear in search results (not purchased), for badges.
The top-level ``_andsend`` member records what was placed where (the Salesforce emulator
ignores it); tests and benchmarks use it as the expected answer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from emulators.andsend.generator import Dataset, GeneratorConfig, generate
from emulators.andsend.people import COUNTRIES, ascii_fold

KINDS = ("lead", "contact", "account_domain", "account_name")
KIND_WEIGHTS = (40, 30, 15, 15)
CONVERTED_LEADS = 2
EXTERNAL_ID_FIELDS = {
    "Lead": ["Andsend_Prospect_Id__c", "Andsend_Prospect_Ids__c"],
    "Contact": ["Andsend_Prospect_Id__c", "Andsend_Prospect_Ids__c"],
    "Task": ["Andsend_Touchpoint_Id__c"],
    "Account": ["Andsend_Account_Key__c"],
}
_ALL_SUFFIXES = sorted({s for c in COUNTRIES for s in c.legal_suffixes}, key=len, reverse=True)
_SF_INDUSTRY = {
    "Software": "Technology",
    "IT Services": "Technology",
    "Telecommunications": "Technology",
    "Financial Services": "Finance",
    "Manufacturing": "Manufacturing",
    "Automotive": "Manufacturing",
    "Retail": "Retail",
}


@dataclass(frozen=True)
class FixtureOptions:
    overlap: float = 0.3
    users_present: float = 0.75
    omit_external_ids: bool = False
    search_result_people: int = 5


def recase_email(rng: random.Random, email: str) -> str:
    """Same address, other letter case (Salesforce compares e-mails case-insensitively)."""
    local, _, domain = email.partition("@")
    style = rng.randrange(3)
    if style == 0:
        return f"{'.'.join(p.capitalize() for p in local.split('.'))}@{domain}"
    if style == 1:
        return email.upper()
    return f"{local}@{domain.upper()}"


def company_without_suffix(name: str) -> str:
    for suffix in _ALL_SUFFIXES:
        if name.endswith(" " + suffix):
            return name[: -len(suffix) - 1]
    return name


def renamed_company(rng: random.Random, name: str) -> str:
    """The same company as a CRM user typed it: other legal suffix, no suffix, or other case."""
    base = company_without_suffix(name)
    style = rng.randrange(4)
    if style == 0:
        return base
    if style == 1:
        return f"{base} {rng.choice(('GmbH', 'Inc', 'Ltd.', 'AB', 'SA', 'Group'))}"
    if style == 2:
        return name.upper()
    return base.lower()


def rewritten_website(rng: random.Random, domain: str) -> str:
    return rng.choice(
        (f"www.{domain}", f"https://{domain}/en/", f"http://{domain}", f"https://www.{domain}/contact")
    )


def _alias(first: str, last: str) -> str:
    text = (ascii_fold(first)[:1] + ascii_fold(last)).lower().replace(" ", "").replace("'", "")
    return (text or "user")[:8]


def _split_name(full: str | None) -> tuple[str | None, str]:
    parts = (full or "").split(" ", 1)
    if len(parts) == 2:
        return parts[0], parts[1]
    return None, parts[0] or "User"


def build_fixture(config: GeneratorConfig, options: FixtureOptions = FixtureOptions()) -> dict[str, Any]:
    return _Builder(generate(config), options).build()


class _Builder:
    def __init__(self, data: Dataset, options: FixtureOptions) -> None:
        self.data = data
        self.options = options
        self.rng = random.Random(f"{data.config.seed}:salesforce")
        self.users: list[dict[str, Any]] = []
        self.user_refs: dict[str, str] = {}  # Andsend user id -> fixture ref
        self.accounts: list[dict[str, Any]] = []
        self.contacts: list[dict[str, Any]] = []
        self.leads: list[dict[str, Any]] = []
        self.account_refs: dict[str, str] = {}  # company domain -> ref
        self.placed: dict[str, str] = {}  # prospect id -> kind

    def build(self) -> dict[str, Any]:
        self._users()
        self._prospects()
        self._search_people()
        fixture: dict[str, Any] = {
            "users": self.users,
            "records": {"Account": self.accounts, "Contact": self.contacts, "Lead": self.leads},
            "_andsend": {
                "generator": self.data.config.to_dict(),
                "options": {
                    "overlap": self.options.overlap,
                    "users_present": self.options.users_present,
                    "omit_external_ids": self.options.omit_external_ids,
                },
                "users_present": sorted(self.user_refs),
                "prospects": dict(sorted(self.placed.items())),
            },
        }
        if self.options.omit_external_ids:
            fixture["describe"] = {"omit_fields": {k: list(v) for k, v in EXTERNAL_ID_FIELDS.items()}}
        return fixture

    # -- users --------------------------------------------------------------------------------------

    def _users(self) -> None:
        andsend_users = self.data.users
        count = round(self.options.users_present * len(andsend_users))
        chosen = sorted(self.rng.sample(range(len(andsend_users)), count))
        for n, index in enumerate(chosen):
            user = andsend_users[index]
            first, last = _split_name(user["name"])
            email = user["email"] if self.rng.random() < 0.7 else recase_email(self.rng, user["email"])
            ref = f"u{index}"
            self.user_refs[user["id"]] = ref
            self.users.append(
                {
                    "_ref": ref,
                    "Username": user["email"].lower(),
                    "Email": email,
                    "FirstName": first,
                    "LastName": last,
                    "Alias": _alias(first or "", last),
                    # One seller has left: an inactive User must not own new records.
                    "IsActive": not (n == 0 and count > 1),
                }
            )
        # Salesforce-only users the Andsend side does not know (admins, ops).
        domain = andsend_users[0]["email"].split("@", 1)[1] if andsend_users else "example.com"
        for local, first, last in (
            ("sales.ops", "Sales", "Operations"),
            ("crm.admin", "CRM", "Administrator"),
        ):
            self.users.append(
                {
                    "_ref": local.replace(".", "_"),
                    "Username": f"{local}@{domain}",
                    "Email": f"{local}@{domain}",
                    "FirstName": first,
                    "LastName": last,
                    "Alias": _alias(first, last),
                    "IsActive": True,
                }
            )

    def _owner(self, prospect: dict[str, Any]) -> dict[str, str]:
        """Existing records belong to the purchaser's User when there is one, else to the default user."""
        ref = self.user_refs.get(prospect.get("purchased_by_user_id") or "")
        if ref and self.rng.random() < 0.6:
            return {"OwnerId": f"@{ref}"}
        return {}

    # -- records ------------------------------------------------------------------------------------

    def _account(
        self, prospect: dict[str, Any], *, name: str | None = None, website: str | None = None
    ) -> str:
        domain = prospect["company_domain"]
        if domain in self.account_refs:
            return self.account_refs[domain]
        ref = f"a{len(self.accounts)}"
        self.account_refs[domain] = ref
        record: dict[str, Any] = {
            "_ref": ref,
            "Name": name or prospect["company_name"],
            "BillingCity": prospect["city"],
            "BillingCountry": prospect["company_country"],
        }
        if website:
            record["Website"] = website
        if prospect["company_industry"] in _SF_INDUSTRY:
            record["Industry"] = _SF_INDUSTRY[prospect["company_industry"]]
        self.accounts.append(record)
        return ref

    def _person(self, prospect: dict[str, Any], email: str | None) -> dict[str, Any]:
        record: dict[str, Any] = {"LastName": prospect["last_name"] or "Unknown"}
        if prospect["first_name"]:
            record["FirstName"] = prospect["first_name"]
        if prospect["title"]:
            record["Title"] = prospect["title"]
        if email:
            record["Email"] = email
        if prospect["phone"] and self.rng.random() < 0.5:
            record["Phone"] = prospect["phone"]
        return record

    def _email(self, prospect: dict[str, Any]) -> str:
        email = prospect["email"]
        return email if self.rng.random() < 0.75 else recase_email(self.rng, email)

    def _lead(self, prospect: dict[str, Any], email: str | None) -> dict[str, Any]:
        lead = self._person(prospect, email)
        lead.update(
            Company=prospect["company_name"] or "Unknown",
            City=prospect["city"],
            Country=prospect["country"],
            LeadSource=self.rng.choice(("Web", "Partner Referral", "Purchased List", "Other")),
            Status=self.rng.choice(("Open - Not Contacted", "Working - Contacted")),
            **self._owner(prospect),
        )
        if prospect["company_website"] and self.rng.random() < 0.5:
            lead["Website"] = prospect["company_website"]
        return lead

    def _contact(self, prospect: dict[str, Any], account_ref: str, email: str) -> dict[str, Any]:
        contact = self._person(prospect, email)
        contact.update(AccountId=f"@{account_ref}", MailingCity=prospect["city"], **self._owner(prospect))
        contact["MailingCountry"] = prospect["country"]
        contact["_ref"] = f"c{len(self.contacts)}"
        self.contacts.append(contact)
        return contact

    def _prospects(self) -> None:
        purchased = [p for p in self.data.prospects if p["purchased"]]
        count = round(self.options.overlap * len(purchased))
        chosen = [purchased[i] for i in sorted(self.rng.sample(range(len(purchased)), count))]
        converted = 0
        for prospect in chosen:
            kind = self.rng.choices(KINDS, KIND_WEIGHTS)[0]
            if kind in ("lead", "contact") and not prospect["email"]:
                kind = "account_name"  # nothing to match by e-mail: the company is what the org knows
            if kind == "contact" and converted < CONVERTED_LEADS:
                kind = "converted_lead"
                converted += 1
            if kind == "lead":
                self.leads.append(self._lead(prospect, self._email(prospect)))
            elif kind == "contact":
                website = prospect["company_website"] if self.rng.random() < 0.7 else None
                account = self._account(prospect, website=website)
                self._contact(prospect, account, self._email(prospect))
            elif kind == "converted_lead":
                account = self._account(prospect, website=prospect["company_website"])
                contact = self._contact(prospect, account, prospect["email"])
                lead = self._lead(prospect, self._email(prospect))
                lead.update(
                    IsConverted=True,
                    Status="Closed - Converted",
                    ConvertedContactId=f"@{contact['_ref']}",
                    ConvertedAccountId=f"@{account}",
                )
                self.leads.append(lead)
            elif kind == "account_domain":
                if prospect["company_domain"] in self.account_refs:
                    kind = "account_existing"
                else:
                    self._account(
                        prospect,
                        name=company_without_suffix(prospect["company_name"]),
                        website=rewritten_website(self.rng, prospect["company_domain"]),
                    )
            else:
                if prospect["company_domain"] in self.account_refs:
                    kind = "account_existing"
                else:
                    self._account(prospect, name=renamed_company(self.rng, prospect["company_name"]))
            self.placed[prospect["id"]] = kind

    def _search_people(self) -> None:
        """A few people the customer only saw in searches, already known to the CRM (black badges)."""
        by_id = {p["id"]: p for p in self.data.prospects}
        seen: set[str] = set()
        candidates = []
        for result in self.data.search_results:
            pid = result["prospect_id"]
            prospect = by_id.get(pid or "")
            if prospect and not prospect["purchased"] and pid not in seen and prospect["email"]:
                seen.add(pid)
                candidates.append(prospect)
        for prospect in self.rng.sample(candidates, min(self.options.search_result_people, len(candidates))):
            lead = self._lead(prospect, prospect["email"])
            if prospect["linkedin_url"]:
                lead["LinkedIn_Profile__c"] = prospect["linkedin_url"]
            self.leads.append(lead)
            self.placed[prospect["id"]] = "search_result_lead"
