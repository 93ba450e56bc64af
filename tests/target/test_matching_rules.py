"""The matching rules of issue 20, each through the target against the Salesforce emulator (results
read back from the emulator), and the normalisation they rest on."""

from __future__ import annotations

import socket

import pytest

from target_salesforce_andsend.normalize import (
    company_domain,
    company_name_variants,
    normalize_company,
    registrable_domain,
)
from tests.target._target_support import live, messages, prospect, run_target, target_config

EXT = "Andsend_Prospect_Id__c"


def writes(stats):
    return {k: v for k, v in stats["by_kind"].items() if k.startswith(("collections_", "sobject_", "bulk_"))}


# ------------------------------------------------------------------------------ normalisation


@pytest.mark.parametrize(("a", "b"), [
    ("Romano Tecnologie S.r.l.", "ROMANO TECNOLOGIE"), ("Foo S.A.S.", "foo sas"), ("AB Volvo (publ)", "Volvo AB"),
    ("ООО «Ромашка»", "Romashka LLC"), ("株式会社トヨタ", "Toyota K.K."), ("Müller GmbH", "Mueller AG"),
    ("Müller GmbH", "Muller"), ("Krämer & Schröder AG", "Kraemer und Schroeder"), ("The Acme Company", "Acme"),
    ("Acme GmbH & Co. KG", "Acme"), ("Çelik A.Ş.", "Celik AS"), ("Acme Sp. z o.o.", "Acme S.A."),
    ("Banco do Brasil S.A.", "Banco do Brasil"), ("Acme Co., Ltd.", "ACME LIMITED"), ("I.B.M. Corp", "IBM"),
    ("Dansk Retail A/S", "Dansk Retail ApS"), ("Gorpra S. de R.L. de C.V.", "Gorpra SA de CV"),
])
def test_company_keys_equal(a, b):
    assert normalize_company(a) == normalize_company(b)


@pytest.mark.parametrize(("a", "b"), [
    ("Acme Holding", "Acme Logistics"), ("Twin A", "Twin B"), ("Nordic Systems", "Nordic System"), ("AB", "AB Foods"),
])
def test_company_keys_differ(a, b):
    assert normalize_company(a) != normalize_company(b)


def test_registrable_domains_and_what_never_identifies_a_company():
    assert registrable_domain("https://shop.acme.co.uk:8443/en/?x=1#top") == "acme.co.uk"
    assert registrable_domain("careers.acme.com.br/jobs") == "acme.com.br"
    assert registrable_domain("ann@mail.acme.de") == "acme.de"
    assert registrable_domain("foo.test") == "foo.test"  # a TLD the list does not know: its last two labels
    assert registrable_domain("192.168.1.10") is None and registrable_domain("co.uk") is None
    for page in ("https://www.facebook.com/acme", "https://www.etsy.com/shop/acme", "sites.google.com/view/acme",
                 "acme.wixsite.com/home", "acme.github.io", "linkedin.com/company/acme", "gmail.com", "seznam.cz"):
        assert company_domain(page) is None, page
    assert company_domain("https://www.acme.co.uk/en/") == "acme.co.uk"


def test_the_public_suffix_list_is_never_fetched(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("network access")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    assert registrable_domain("https://www.something-new.org.uk/x") == "something-new.org.uk"


def test_name_variants_carry_the_country_forms_and_umlaut_spellings():
    variants = {v.casefold() for v in company_name_variants("Müller Bau GmbH", "Germany")}
    assert {"müller bau", "mueller bau gmbh", "muller bau ag", "müller bau gmbh & co. kg"} <= variants
    assert "ab volvo" in {v.casefold() for v in company_name_variants("Volvo AB", "SE")}


# ------------------------------------------------------------------------------ through the target


def test_account_found_by_name_when_its_website_has_a_path_and_never_by_platform_or_free_mail(sf_emulator, tmp_path):
    refs = sf_emulator.seed({"records": {"Account": [
        {"_ref": "romano", "Name": "Romano Tecnologie", "Website": "https://shop.romano-tecnologie.it:8443/en/?a=1"},
        {"_ref": "etsy", "Name": "Someone Else", "Website": "https://www.etsy.com/shop/someoneelse"},
        {"_ref": "gmail", "Name": "Gmail Account", "Website": "gmail.com"},
        {"_ref": "es", "Name": "Rossi S.A.", "Website": "https://rossi.es"},
    ]}})
    records = [
        prospect("it", email="a@romano-tecnologie.it", company_name="Romano Tecnologie S.r.l.",
                 company_domain="romano-tecnologie.it", company_country="IT"),
        prospect("shop", email="b@gmail.com", company_name="Knit Shop", company_domain=None,
                 company_website="https://www.etsy.com/shop/knitshop"),
        prospect("free", email="c@gmail.com", company_name="Tiny Bakery", company_domain=None),
        prospect("rossi", email="d@rossi.it", company_name="Rossi S.p.A.", company_domain="rossi.it",
                 company_country="IT"),
    ]
    config = target_config(sf_emulator, tmp_path, object_mode="contact_account")
    run = run_target(config, messages("prospects", records))
    contacts = {c[EXT]: c for c in live(sf_emulator.records("Contact"))}
    assert contacts["it"]["AccountId"] == refs["romano"]
    assert contacts["shop"]["AccountId"] not in refs.values()
    assert contacts["free"]["AccountId"] not in refs.values()
    assert contacts["rossi"]["AccountId"] != refs["es"]  # same name, another country's website
    [near] = [e for e in run.report["match_audit"] if e["prospect_id"] == "rossi"]
    assert near["record_id"] == refs["es"] and near["outcome"] == "near_miss" and near["score"] == 100.0
    new = [a for a in live(sf_emulator.records("Account")) if a["Id"] not in refs.values()]
    assert sorted(a["Name"] for a in new) == ["Knit Shop", "Rossi S.p.A.", "Tiny Bakery"]
    assert next(a for a in new if a["Name"] == "Knit Shop").get("Website") == "https://www.etsy.com/shop/knitshop"


def test_colleagues_in_one_batch_share_one_new_account(sf_emulator, tmp_path):
    records = [
        prospect("only-name", email="a@gmail.com", company_name="Nordlicht Analytik GmbH", company_domain=None),
        prospect("with-domain", email="b@nordlicht.de", company_name="Nordlicht Analytik",
                 company_domain="nordlicht.de"),
        prospect("other-site", email="c@nordlicht.at", company_name="Nordlicht Analytik",
                 company_domain="nordlicht.at"),
    ]
    run_target(target_config(sf_emulator, tmp_path, object_mode="contact_account"), messages("prospects", records))
    contacts = {c[EXT]: c for c in live(sf_emulator.records("Contact"))}
    assert contacts["only-name"]["AccountId"] == contacts["with-domain"]["AccountId"]
    assert contacts["other-site"]["AccountId"] != contacts["with-domain"]["AccountId"]
    accounts = {a["Id"]: a for a in live(sf_emulator.records("Account"))}
    assert len(accounts) == 2
    # The Account of the first colleague got the website a later one knew.
    assert accounts[contacts["with-domain"]["AccountId"]]["Website"] == "nordlicht.de"


def test_merged_prospects_keep_the_owner_an_earlier_seller_has(sf_emulator, tmp_path):
    refs = sf_emulator.seed({"users": [{"_ref": "s1", "Username": "s1@sf.test", "Email": "seller.one@andsend.test",
                                        "LastName": "One", "IsActive": True}]})
    records = [
        prospect("first", email="ann@lee.test", purchased_by_user_email="seller.one@andsend.test"),
        prospect("second", email="ANN@lee.test", purchased_by_user_email="not.in.salesforce@andsend.test"),
    ]
    run_target(target_config(sf_emulator, tmp_path), messages("prospects", records))
    [lead] = live(sf_emulator.records("Lead"))
    assert lead["OwnerId"] == refs["s1"]


def test_same_person_in_two_batches_rerun_writes_nothing(sf_emulator, tmp_path):
    sf_emulator.seed({"records": {"Lead": [{"LastName": "Lee", "Company": "Acme", "Email": "ann@lee.test"}]}})
    records = [prospect("p1", email="ann@lee.test", title="CTO", linkedin_url="https://www.linkedin.com/in/a1"),
               *[prospect(f"fill{i}") for i in range(3)],
               prospect("p2", email="Ann@Lee.test", title="CEO", linkedin_url="https://www.linkedin.com/in/a2")]
    config = target_config(sf_emulator, tmp_path, batch_size_rows=2)
    run_target(config, messages("prospects", records))
    lead = next(r for r in live(sf_emulator.records("Lead")) if r["Email"] == "ann@lee.test")
    assert (lead["Title"], lead[EXT]) == ("CTO", "p1")  # the first prospect of the run owns overwrite fields
    sf_emulator.reset_stats()
    again = run_target(config, messages("prospects", records))
    assert writes(sf_emulator.stats()) == {}
    assert again.counts("Lead").get("updated", 0) == 0


def test_alternate_email_fields_match_after_email(sf_emulator, tmp_path):
    refs = sf_emulator.seed({
        "describe": {"add_fields": {"Contact": [{"name": "Work_Email__c", "type": "email", "length": 80}]}},
        "records": {"Contact": [
            {"_ref": "alt", "LastName": "Alt", "Email": "private@home.test", "Work_Email__c": "Ann@Work.test"},
            {"_ref": "main", "LastName": "Main", "Email": "bob@work.test", "Work_Email__c": "x@y.test"},
            {"_ref": "decoy", "LastName": "Decoy", "Email": "z@z.test", "Work_Email__c": "bob@work.test"},
        ]}})
    records = [prospect("ann", email="ann@work.test"), prospect("bob", email="bob@work.test"),
               prospect("tag", email="ann+news@work.test")]
    config = target_config(sf_emulator, tmp_path, object_mode="contact_account",
                           match_email_fields=["Work_Email__c", "npe01__AlternateEmail__c"])
    run_target(config, messages("prospects", records))
    by_id = {c["Id"]: c for c in live(sf_emulator.records("Contact"))}
    assert by_id[refs["alt"]][EXT] == "ann"
    assert by_id[refs["main"]][EXT] == "bob"  # Email first: the alternate field's record is not chosen
    assert not by_id[refs["decoy"]].get(EXT)
    tagged = [c for c in by_id.values() if c.get(EXT) == "tag"]
    assert len(tagged) == 1 and tagged[0]["Id"] not in refs.values()  # a plus-tagged address is another address


def test_a_platform_page_is_no_company_domain_but_the_platform_itself_is_one():
    assert company_domain("https://www.linkedin.com/company/acme/") is None
    assert company_domain("google.com/maps/place/acme") is None
    assert company_domain("https://www.linkedin.com/") == "linkedin.com"  # LinkedIn's own website
    assert company_domain("github.com") == "github.com"
