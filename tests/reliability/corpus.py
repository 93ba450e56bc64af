"""The hostile-input corpus: broken and adversarial records, each with its expected outcome.

``python -m tests.reliability.corpus`` rewrites ``corpus/hostile.singer`` from ``CASES`` (a test
fails when the file and this module disagree). The org it runs against (``SEED``) holds the
records a careless matcher would hit: a Lead with an apostrophe in its e-mail, bystanders whose
e-mails and names a LIKE wildcard or an injected ``OR`` would match, an Account by domain.

Expected outcomes (checked per record by test_bad_input.py, in contact_account mode):

* ``written(...)``: a new Contact carrying the prospect id, with exactly these field values
  (``account=`` the Account's Name, or None for a Contact without Account);
* ``linked(ref)``: no new record; the seeded record ``ref`` carries the prospect now;
* ``rejected(code)``: a line in the rejects file with that error code and nothing written;
* ``skipped(reason)``: counted in the report under that reason and nothing written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CORPUS_FILE = HERE / "corpus" / "hostile.singer"
SCHEMAS = HERE.parents[1] / "schemas"
STAMP = "2026-01-01T00:00:00.000Z"
OWNER = "seller@andsend-corpus.test"  # an active Salesforce User (SEED)


@dataclass
class Expect:
    kind: str  # written | linked | rejected | skipped
    fields: dict[str, Any] = field(default_factory=dict)
    account: str | None = "-"  # written: the Account's Name, None = no Account, "-" = not checked
    ref: str | None = None  # linked: the seeded record's _ref
    code: str | None = None  # rejected: error code; skipped: reason


def written(account: str | None = "-", **fields: Any) -> Expect:
    return Expect("written", fields=fields, account=account)


def linked(ref: str) -> Expect:
    return Expect("linked", ref=ref)


def rejected(code: str) -> Expect:
    return Expect("rejected", code=code)


def skipped(reason: str) -> Expect:
    return Expect("skipped", code=reason)


@dataclass
class Case:
    why: str
    record: dict[str, Any]
    expect: Expect

    @property
    def id(self) -> Any:
        return self.record.get("id")


def prospect(pid: Any, **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": pid,
        "status": "purchased",
        "purchased": True,
        "first_name": "Pat",
        "last_name": f"Case {pid}",
        "email": f"{pid}@corpus.test" if isinstance(pid, str) else None,
        "company_name": "Corpus Labs AB",
        "company_domain": "corpus-labs.test",
        "title": "Engineer",
        "purchased_by_user_email": OWNER,
        "created_at": STAMP,
        "updated_at": STAMP,
    }
    record.update(fields)
    return record


LONG = "x" * 300

SEED: dict[str, Any] = {
    "users": [{"_ref": "seller", "Username": OWNER, "Email": OWNER, "LastName": "Seller", "IsActive": True}],
    "records": {
        "Account": [
            {"_ref": "a_bystander", "Name": "Bystander Ltd", "Website": "https://bystander.test"},
            {"_ref": "a_percent", "Name": "Percent Co", "Website": "https://percent.test"},
        ],
        "Lead": [
            {
                "_ref": "l_quote",
                "LastName": "O'Brien",
                "Company": "O'Brien & Sons",
                "Email": "o'brien@obrien.test",
            },
            {
                "_ref": "l_victim",
                "LastName": "Victim",
                "Company": "Bystander Ltd",
                "Email": "victim@bystander.test",
            },
            {
                "_ref": "l_admin",
                "LastName": "Admin",
                "Company": "Bystander Ltd",
                "Email": "admin@bystander.test",
            },
            {
                "_ref": "l_ann",
                "LastName": "Lee",
                "FirstName": "Ann",
                "Company": "Acme",
                "Email": "ann.lee@acme.test",
            },
            {
                "_ref": "l_ext",
                "LastName": "Existing",
                "Company": "Ext",
                "Email": "existing@ext.test",
                "Andsend_Prospect_Id__c": "prs_existing",
            },
        ],
        "Contact": [
            {
                "_ref": "c_bystander",
                "LastName": "Untouched",
                "Email": "contact@bystander.test",
                "AccountId": "@a_bystander",
            },
        ],
    },
}
# Seeded records a case may touch (linked / enriched); every other seeded row must stay as it was.
TOUCHABLE = {"l_quote", "l_ann", "a_percent"}

CASES: list[Case] = [
    # --- SOQL metacharacters and injection attempts in every matched field --------------------
    Case(
        "apostrophe e-mail, other case: matched through the escaped literal",
        prospect("hz_quote_email", email="O'Brien@OBRIEN.test", company_name="O'Brien & Sons"),
        linked("l_quote"),
    ),
    Case(
        "injection through the e-mail local part (valid atext)",
        prospect("hz_inject_email", email="x'or'1'='1@inject.test"),
        written(Email="x'or'1'='1@inject.test"),
    ),
    Case(
        "LIKE wildcard % as the whole local part must not match the bystanders",
        prospect("hz_pct_email", email="%@bystander.test"),
        written(Email="%@bystander.test"),
    ),
    Case(
        "LIKE wildcard _ must not match admin@bystander.test",
        prospect("hz_us_email", email="_dmin@bystander.test"),
        written(Email="_dmin@bystander.test"),
    ),
    Case(
        "backslash in the e-mail: not an address Salesforce takes",
        prospect("hz_bs_email", email="back\\slash@inject.test"),
        rejected("INVALID_VALUE"),
    ),
    Case(
        "injection through the company name must not match 'Bystander Ltd'",
        prospect("hz_inject_company", company_name="Bystander Ltd' OR Name != '", company_domain=None),
        written(account="Bystander Ltd' OR Name != '"),
    ),
    Case(
        "company name '_ystander Ltd' (LIKE wildcard) must not match 'Bystander Ltd'",
        prospect("hz_us_company", company_name="_ystander Ltd", company_domain=None),
        written(account="_ystander Ltd"),
    ),
    Case(
        "company '%' alone and no domain: no Account can be identified",
        prospect("hz_pct_company", company_name="%", company_domain=None),
        written(account=None),
    ),
    Case(
        "injection through the company domain: not a host, the name decides",
        prospect(
            "hz_inject_domain",
            company_domain="bystander.test' OR Website != '",
            company_name="Domain Inject AB",
        ),
        written(account="Domain Inject AB"),
    ),
    Case(
        "website with an injected query string: its host matches the seeded Account",
        prospect(
            "hz_inject_website",
            company_domain=None,
            company_website="https://percent.test/?q=' OR '1'='1",
            company_name="Percent",
        ),
        written(account="Percent Co"),
    ),
    Case(
        "a domain made of a wildcard matches nothing and names its new Account",
        prospect("hz_pct_domain", company_domain="%.test", company_name="Wildcard Domain AB"),
        written(account="Wildcard Domain AB"),
    ),
    Case(
        "SQL-style injection in the first name is just a name",
        prospect("hz_inject_first", first_name="Robert'); DROP TABLE Lead;--"),
        written(FirstName="Robert'); DROP TABLE Lead;--"),
    ),
    Case(
        "backslash and quote in the last name",
        prospect("hz_inject_last", last_name="\\' OR 1=1 --"),
        written(LastName="\\' OR 1=1 --"),
    ),
    Case(
        "injection through the external id must not match prs_existing",
        prospect("hz_ext' OR Andsend_Prospect_Id__c != '", email="ext-inject@corpus.test"),
        written(Andsend_Prospect_Id__c="hz_ext' OR Andsend_Prospect_Id__c != '"),
    ),
    Case(
        "external id with a trailing backslash",
        prospect("hz_ext_bs\\", email="ext-bs@corpus.test"),
        written(Andsend_Prospect_Id__c="hz_ext_bs\\"),
    ),
    Case(
        "external id that is a LIKE wildcard",
        prospect("hz_%", email="ext-pct@corpus.test"),
        written(Andsend_Prospect_Id__c="hz_%"),
    ),
    # --- invalid and unusual e-mails -------------------------------------------------------------
    Case(
        "quoted local part with a space",
        prospect("hz_quoted_space", email='"john doe"@acme.test'),
        rejected("INVALID_EMAIL"),
    ),
    Case(
        "quoted local part: RFC-valid, but not what Salesforce accepts",
        prospect("hz_quoted", email='"john"@acme.test'),
        rejected("INVALID_VALUE"),
    ),
    Case(
        "internationalised domain (IDN) in Unicode: Salesforce refuses it",
        prospect("hz_idn", email="anna@müller.de"),
        rejected("INVALID_VALUE"),
    ),
    Case(
        "internationalised domain in punycode is fine",
        prospect("hz_idn_puny", email="anna@xn--mller-kva.de"),
        written(Email="anna@xn--mller-kva.de"),
    ),
    Case(
        "plus addressing is a different mailbox, kept as is",
        prospect("hz_plus", email="ann.lee+andsend@acme.test"),
        written(Email="ann.lee+andsend@acme.test"),
    ),
    Case(
        "trailing dot in the domain",
        prospect("hz_trailing_dot", email="trailing@acme.test."),
        rejected("INVALID_VALUE"),
    ),
    Case(
        "upper-case e-mail of a seeded Lead: linked, not duplicated",
        prospect("hz_upper", email="ANN.LEE@ACME.TEST", first_name="Ann", last_name="Lee"),
        linked("l_ann"),
    ),
    Case(
        "surrounding whitespace is trimmed",
        prospect("hz_spaces", email="  spaced@acme.test  "),
        written(Email="spaced@acme.test"),
    ),
    Case("two @ signs", prospect("hz_two_at", email="double@@acme.test"), rejected("INVALID_EMAIL")),
    Case("consecutive dots", prospect("hz_dots", email="a..b@acme.test"), rejected("INVALID_VALUE")),
    Case(
        "e-mail longer than the field (80)",
        prospect("hz_long_email", email="l" * 90 + "@acme.test"),
        rejected("INVALID_VALUE"),
    ),
    # --- missing names and companies -------------------------------------------------------------
    Case(
        "no last name but an e-mail: the catalog's default name",
        prospect("hz_no_last", last_name=None, full_name=None),
        written(LastName="[not provided]"),
    ),
    Case(
        "no company name and no domain: a Contact without Account",
        prospect("hz_no_company", company_name=None, company_domain=None, email="nocompany@gmail.com"),
        written(account=None),
    ),
    Case(
        "neither a last name nor an e-mail",
        prospect("hz_nothing", last_name=None, full_name=None, email=None),
        rejected("MISSING_NAME_AND_EMAIL"),
    ),
    Case(
        "empty last name and a blank e-mail",
        prospect("hz_blank", last_name="", email="   "),
        rejected("MISSING_NAME_AND_EMAIL"),
    ),
    # --- over-length values ----------------------------------------------------------------------
    Case(
        "last name over 80 characters is cut to the field length",
        prospect("hz_long_last", last_name=LONG),
        written(LastName="x" * 80),
    ),
    Case(
        "title over 128 characters is cut",
        prospect("hz_long_title", title="t" * 1000),
        written(Title="t" * 128),
    ),
    Case(
        "company name over 255 characters: the Account Name is cut",
        prospect("hz_long_company", company_name="C" * 400, company_domain=None),
        written(account="C" * 255),
    ),
    # --- wrong types -----------------------------------------------------------------------------
    Case("e-mail as a number", prospect("hz_int_email", email=12345), rejected("INVALID_INPUT")),
    Case("last name as a list", prospect("hz_list_last", last_name=["Lee"]), rejected("INVALID_INPUT")),
    Case("purchased as a string", prospect("hz_str_purchased", purchased="yes"), rejected("INVALID_INPUT")),
    Case(
        "custom fields as a list", prospect("hz_list_custom", custom_fields=[1, 2]), rejected("INVALID_INPUT")
    ),
    Case(
        "the key property as a number", prospect(4242, email="int-id@corpus.test"), rejected("INVALID_INPUT")
    ),
    Case(
        "the key property missing altogether",
        {k: v for k, v in prospect("x", email="no-id@corpus.test").items() if k != "id"},
        rejected("INVALID_INPUT"),
    ),
    # --- unicode edge cases ----------------------------------------------------------------------
    Case(
        "combining marks are kept as sent (not re-normalised)",
        prospect("hz_combining", first_name="Jose\u0301", last_name="Nguye\u0302\u0303n"),
        written(FirstName="Jose\u0301", LastName="Nguye\u0302\u0303n"),
    ),
    Case(
        "right-to-left script",
        prospect("hz_rtl", last_name="مُحَمَّد", company_name="شركة الاتصالات", company_domain=None),
        written(LastName="مُحَمَّد", account="شركة الاتصالات"),
    ),
    Case(
        "emoji in names and company",
        prospect(
            "hz_emoji",
            last_name="Smile 😀",
            company_name="🚀 Rocket GmbH",
            company_domain="rocket-emoji.test",
        ),
        written(LastName="Smile 😀", account="🚀 Rocket GmbH"),
    ),
    Case(
        "zero-width space inside a name is kept",
        prospect("hz_zw_name", last_name="Zero\u200bWidth"),
        written(LastName="Zero\u200bWidth"),
    ),
    Case(
        "zero-width space inside an e-mail: not an address Salesforce takes",
        prospect("hz_zw_email", email="zero\u200bwidth@acme.test"),
        rejected("INVALID_VALUE"),
    ),
    Case(
        "NUL inside a name", prospect("hz_nul", last_name="Nul\u0000Byte"), written(LastName="Nul\u0000Byte")
    ),
    Case(
        "line and paragraph separators in the title",
        prospect("hz_seps", title="Line\u2028Para\u2029End"),
        written(Title="Line\u2028Para\u2029End"),
    ),
    # --- duplicated ids, null owners, not purchased ----------------------------------------------
    Case(
        "the same id twice: one Contact, the later values",
        prospect("hz_dup", title="First"),
        written(Title="Second"),
    ),
    Case("the same id twice (second copy)", prospect("hz_dup", title="Second"), written(Title="Second")),
    Case(
        "another prospect with the same e-mail in another case: one person (later non-empty values win)",
        prospect("hz_same_mail_a", email="Shared@Corpus.test"),
        written(Email="shared@corpus.test", Title="Twin"),
    ),
    Case(
        "(its twin)",
        prospect("hz_same_mail_b", email="shared@corpus.test", title="Twin"),
        Expect("merged", code="hz_same_mail_a"),
    ),
    Case(
        "no purchasing user: the integration user owns it",
        prospect("hz_no_owner", purchased_by_user_email=None, purchased_by_user_id=None),
        written(OwnerId="$admin"),
    ),
    Case(
        "a purchasing user Salesforce does not know",
        prospect("hz_unknown_owner", purchased_by_user_email="ghost@nowhere.test"),
        written(OwnerId="$admin"),
    ),
    Case("the purchasing user is a Salesforce user", prospect("hz_owned"), written(OwnerId="$seller")),
    Case(
        "not purchased",
        prospect("hz_not_purchased", purchased=False, status="available"),
        skipped("not_purchased"),
    ),
]


def touchpoint(tid: str, pid: str, **fields: Any) -> dict[str, Any]:
    record = {
        "id": tid,
        "prospect_id": pid,
        "campaign_id": None,
        "user_id": None,
        "user_email": OWNER,
        "channel": "email",
        "type": "email_sent",
        "subject": "Hello",
        "body": "Hi there",
        "executed_at": "2025-12-01T10:00:00.000Z",
        "created_at": STAMP,
        "updated_at": STAMP,
    }
    record.update(fields)
    return record


# Touchpoints: (record, expected) with expected "task" (one Task on the prospect's Contact, Subject
# containing the given text), ("skipped", reason) or ("rejected", code).
TOUCHPOINTS: list[tuple[dict[str, Any], Any]] = [
    (touchpoint("tp_unknown", "prs_nobody"), ("skipped", "person_not_in_salesforce")),
    (
        touchpoint("tp_inject", "hz_inject_first", subject="%' OR Subject LIKE '%"),
        ("task", "%' OR Subject LIKE '%"),
    ),
    (
        touchpoint("tp_quote'];--", "hz_owned", subject="[andsend:tp_fake] marker spoof"),
        ("task", "marker spoof"),
    ),
    (touchpoint("tp_no_time", "hz_owned", executed_at=None), ("rejected", "INVALID_TOUCHPOINT")),
    (touchpoint("tp_bad_time", "hz_owned", executed_at="yesterday"), ("rejected", "INVALID_TOUCHPOINT")),
    (touchpoint("tp_rejected_person", "hz_dots"), ("skipped", "person_not_in_salesforce")),
]

# Search results: (record, badge exists?, or the code it is rejected with) -- an injected e-mail
# must not find the bystanders.
SEARCH_RESULTS: list[tuple[dict[str, Any], bool | str]] = [
    (
        {
            "id": "res_inject",
            "search_id": "srch_corpus",
            "email": "' OR Email != '",
            "first_name": "X",
            "last_name": "Y",
            "company_name": "Nothing Here' OR Name != '",
            "company_domain": None,
            "created_at": STAMP,
            "updated_at": STAMP,
        },
        False,
    ),
    (
        {
            "id": "res_victim",
            "search_id": "srch_corpus",
            "email": "VICTIM@bystander.test",
            "first_name": "V",
            "last_name": "Victim",
            "company_name": None,
            "company_domain": None,
            "created_at": STAMP,
            "updated_at": STAMP,
        },
        True,
    ),
    (
        {
            "id": "res_pct",
            "search_id": "srch_corpus",
            "email": "%@bystander.test",
            "first_name": "P",
            "last_name": "Pct",
            "company_name": "%",
            "company_domain": None,
            "created_at": STAMP,
            "updated_at": STAMP,
        },
        True,
    ),  # the Contact created for hz_pct_email this very run (prospects drain first)
    (  # missing its key property
        {"search_id": "srch_corpus", "email": "noid@corpus.test", "last_name": "No Id", "updated_at": STAMP},
        "INVALID_SEARCH_RESULT",
    ),
    (
        {
            "id": "res_no_search",
            "email": "nosearch@corpus.test",
            "last_name": "No Search",
            "updated_at": STAMP,
        },
        "INVALID_SEARCH_RESULT",
    ),
]


def _schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{name}.json").read_text(encoding="utf-8"))


def corpus_lines() -> list[str]:
    lines = [
        json.dumps(
            {
                "type": "SCHEMA",
                "stream": "prospects",
                "schema": _schema("prospects"),
                "key_properties": ["id"],
            }
        )
    ]
    lines += [
        json.dumps({"type": "RECORD", "stream": "prospects", "record": c.record}, ensure_ascii=False)
        for c in CASES
    ]
    lines.append(json.dumps({"type": "STATE", "value": {"bookmarks": {"prospects": {"corpus": 1}}}}))
    lines.append(
        json.dumps(
            {
                "type": "SCHEMA",
                "stream": "touchpoints",
                "schema": _schema("touchpoints"),
                "key_properties": ["id"],
            }
        )
    )
    lines += [
        json.dumps({"type": "RECORD", "stream": "touchpoints", "record": tp}, ensure_ascii=False)
        for tp, _ in TOUCHPOINTS
    ]
    lines.append(
        json.dumps(
            {
                "type": "SCHEMA",
                "stream": "search_results",
                "schema": _schema("search_results"),
                "key_properties": ["id"],
            }
        )
    )
    lines += [
        json.dumps({"type": "RECORD", "stream": "search_results", "record": r}, ensure_ascii=False)
        for r, _ in SEARCH_RESULTS
    ]
    lines.append(
        json.dumps(
            {
                "type": "STATE",
                "value": {
                    "bookmarks": {
                        "prospects": {"corpus": 1},
                        "touchpoints": {"corpus": 1},
                        "search_results": {"corpus": 1},
                    }
                },
            }
        )
    )
    return lines


def corpus_text() -> str:
    return "\n".join(corpus_lines()) + "\n"


if __name__ == "__main__":
    CORPUS_FILE.parent.mkdir(parents=True, exist_ok=True)
    CORPUS_FILE.write_text(corpus_text(), encoding="utf-8")
    print(
        f"{CORPUS_FILE}: {len(CASES)} prospects, {len(TOUCHPOINTS)} touchpoints, {len(SEARCH_RESULTS)} search results"
    )
