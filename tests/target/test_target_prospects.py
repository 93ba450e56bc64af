"""Prospects through the whole target against the Salesforce emulator; results checked by
reading the emulator's tables (never by trusting the target's own return values)."""

from __future__ import annotations

import json

import pytest

from tests.target._target_support import live, messages, prospect, run_target, singer_file, target_config

EXT = "Andsend_Prospect_Id__c"


def by(rows, field):
    return {r.get(field): r for r in live(rows)}


def writes(stats):
    return {k: v for k, v in stats["by_kind"].items() if k.startswith(("collections_", "sobject_", "bulk_"))}


# --------------------------------------------------------------------------------- lead mode


def test_lead_mode_creates_leads_and_second_run_creates_nothing(sf_emulator, tmp_path):
    refs = sf_emulator.seed({"users": [{"_ref": "s", "Username": "seller@sf.test", "Email": "Seller@Andsend.TEST",
                                        "LastName": "Seller", "IsActive": True}]})
    config = target_config(sf_emulator, tmp_path)
    first = run_target(config, singer_file("prospects_basic.singer"))

    leads = by(sf_emulator.records("Lead"), EXT)
    assert sorted(leads) == ["p-001", "p-002", "p-004"]  # p-003 not purchased; p-005 merged into p-001
    ann = leads["p-001"]
    assert (ann["LastName"], ann["FirstName"], ann["Email"], ann["Company"]) == ("Lee", "Ann", "ANN.LEE@ACME.TEST",
                                                                                "Acme GmbH")
    # Same email twice in one run: one record, later non-empty values win.
    assert ann["Title"] == "Chief Technology Officer"
    assert ann["OwnerId"] == refs["s"] and ann["LeadSource"] == "Andsend"
    assert ann["LinkedIn_Profile__c"] == "https://www.linkedin.com/in/annlee" and ann["City"] == "Berlin"
    assert leads["p-004"]["Company"] == "[not provided]"
    assert first.states == [{"bookmarks": {"prospects": {"replication_key_value": "2026-01-01T00:00:00Z"}}}]
    assert first.counts("Lead") == {"created": 3}
    assert first.report["skipped"]["prospects"] == {"not_purchased": 1}
    assert first.report["owners"] == {"resolved": 1, "no_email": 2}
    assert first.report["status"] == "succeeded" and first.report["api_calls_total"] > 0

    sf_emulator.reset_stats()
    second = run_target(config, singer_file("prospects_basic.singer"))
    assert len(live(sf_emulator.records("Lead"))) == 3
    assert writes(sf_emulator.stats()) == {}, "an identical second run must write nothing"
    assert second.counts("Lead") == {"matched": 3, "unchanged": 3}


def test_dry_run_writes_nothing_and_emits_no_state(sf_emulator, tmp_path):
    config = target_config(sf_emulator, tmp_path, dry_run=True, object_mode="contact_account")
    run = run_target(config, singer_file("prospects_basic.singer"))
    assert sf_emulator.records("Lead") == [] and sf_emulator.records("Contact") == []
    assert sf_emulator.records("Account") == []
    assert writes(sf_emulator.stats()) == {}
    assert run.stdout == ""
    assert run.report["dry_run"] is True
    assert run.counts("Contact") == {"created": 3} and run.counts("Account") == {"created": 2}
    kinds = {(a["kind"], a["object"]) for a in run.report["plan"]}
    assert kinds == {("create", "Contact"), ("create", "Account")}


def test_switch_off_skips_everything(sf_emulator, tmp_path):
    run = run_target(target_config(sf_emulator, tmp_path, sync_prospects=False), singer_file("prospects_basic.singer"))
    assert sf_emulator.records("Lead") == []
    assert run.report["skipped"]["prospects"] == {"sync_prospects_off": 5}


def test_bad_input_rejected_before_any_call(sf_emulator, tmp_path):
    run = run_target(target_config(sf_emulator, tmp_path), singer_file("prospects_bad_input.singer"))
    codes = {r["key"]: r["error_code"] for r in run.rejects}
    assert codes == {"b-noname": "MISSING_NAME_AND_EMAIL", "b-types": "INVALID_INPUT", "b-email": "INVALID_EMAIL"}
    assert [r[EXT] for r in live(sf_emulator.records("Lead"))] == ["b-good"]
    assert run.report["rejects"] == 3


# -------------------------------------------------------------------------------- matching


def test_match_paths_lead_mode(sf_emulator, tmp_path):
    refs = sf_emulator.seed({"records": {
        "Account": [{"_ref": "a1", "Name": "Conv Corp"}],
        "Contact": [{"_ref": "c1", "LastName": "Case", "Email": "MiXeD@Case.TEST"},
                    {"_ref": "cv", "LastName": "Converted", "Email": "conv-contact@conv.test", "AccountId": "@a1"}],
        "Lead": [{"_ref": "ext", "LastName": "Ext", "Company": "X", "Email": "old@ext.test", EXT: "m-ext"},
                 {"_ref": "conv", "LastName": "Converted", "Company": "Conv", "Email": "conv@conv.test",
                  "IsConverted": True, "ConvertedContactId": "@cv", "ConvertedAccountId": "@a1"},
                 {"_ref": "plain", "LastName": "Plain", "Company": "P", "Email": "plain@lead.test"}],
    }})
    records = [prospect("m-case", email="mixed@case.test"), prospect("m-ext", email="new@ext.test"),
               prospect("m-conv", email="CONV@conv.test"), prospect("m-plain", email="plain@lead.test"),
               prospect("m-new", email="new@new.test")]
    run = run_target(target_config(sf_emulator, tmp_path), messages("prospects", records))

    contacts, leads = by(sf_emulator.records("Contact"), "Id"), by(sf_emulator.records("Lead"), "Id")
    assert contacts[refs["c1"]][EXT] == "m-case"          # Contact by email, case-insensitively
    assert leads[refs["ext"]]["Email"] == "old@ext.test"  # external id wins over email; if_empty keeps Email
    assert contacts[refs["cv"]][EXT] == "m-conv"          # converted Lead followed to its Contact
    assert leads[refs["conv"]].get(EXT) is None           # ... and the converted Lead left alone
    assert leads[refs["plain"]][EXT] == "m-plain"
    assert [r[EXT] for r in live(sf_emulator.records("Lead")) if r["Id"] not in refs.values()] == ["m-new"]
    assert run.counts("Lead")["created"] == 1
    assert run.counts("Contact")["matched"] == 2
    links = sf_emulator.records("Contact")
    assert len(links) == 2


def test_contact_account_mode_domain_name_and_ambiguous(sf_emulator, tmp_path):
    refs = sf_emulator.seed({"records": {"Account": [
        {"_ref": "dom", "Name": "Something Else", "Website": "HTTPS://WWW.Domain-Co.test/"},
        {"_ref": "nm", "Name": "ACME, Inc.", "Website": None},
        {"_ref": "d1", "Name": "Twin A", "Website": "twin.test"},
        {"_ref": "d2", "Name": "Twin B", "Website": "http://twin.test"},
    ]}})
    sf_emulator.clock("2030-01-01T00:00:00Z")
    sf_emulator.seed({"records": {"Account": [{"_ref": "d3", "Name": "Twin C", "Website": "www.twin.test"}]}})
    sf_emulator.clock(None)
    refs.update(d3=next(r["Id"] for r in sf_emulator.records("Account") if r["Name"] == "Twin C"))
    records = [
        prospect("ca-dom", email="x@domain-co.test", company_name="Domain Co", company_domain="domain-co.test"),
        prospect("ca-name", email="y@acme-inc.test", company_name="Acme Inc", company_domain=None),
        prospect("ca-twin", email="z@twin.test", company_name="Twin", company_domain="twin.test"),
        prospect("ca-new", email="n@fresh.test", company_name="Fresh GmbH", company_domain="fresh.test"),
        prospect("ca-new2", email="m@fresh.test", company_name="Fresh", company_domain="https://fresh.test"),
    ]
    config = target_config(sf_emulator, tmp_path, object_mode="contact_account")
    run = run_target(config, messages("prospects", records))

    contacts = by(sf_emulator.records("Contact"), EXT)
    assert contacts["ca-dom"]["AccountId"] == refs["dom"]
    assert contacts["ca-name"]["AccountId"] == refs["nm"]
    assert contacts["ca-twin"]["AccountId"] == refs["d3"]  # most recently modified of three
    (amb,) = [a for a in run.report["ambiguous_matches"] if a["key"] == "ca-twin"]
    assert sorted(amb["candidates"]) == sorted([refs["d1"], refs["d2"], refs["d3"]])
    fresh = [a for a in live(sf_emulator.records("Account")) if a["Name"] == "Fresh GmbH"]
    assert len(fresh) == 1 and contacts["ca-new"]["AccountId"] == contacts["ca-new2"]["AccountId"] == fresh[0]["Id"]
    accounts = by(sf_emulator.records("Account"), "Id")
    assert accounts[refs["nm"]]["Website"] is None  # no domain known for it: nothing to fill
    assert accounts[refs["dom"]]["Name"] == "Something Else"  # Name is on_create: never renamed

    sf_emulator.reset_stats()
    run_target(config, messages("prospects", records))
    assert writes(sf_emulator.stats()) == {}
    assert len(live(sf_emulator.records("Contact"))) == 5


def test_lead_match_in_contact_account_mode_is_linked_not_converted(sf_emulator, tmp_path):
    refs = sf_emulator.seed({"records": {"Lead": [{"_ref": "l", "LastName": "Lead", "Company": "L",
                                                   "Email": "lead@l.test"}]}})
    config = target_config(sf_emulator, tmp_path, object_mode="contact_account")
    run = run_target(config, messages("prospects", [prospect("l-1", email="lead@l.test", title="VP")]))
    lead = by(sf_emulator.records("Lead"), "Id")[refs["l"]]
    assert lead[EXT] == "l-1" and lead["Title"] == "VP" and not lead["IsConverted"]
    assert live(sf_emulator.records("Contact")) == []
    assert run.counts("Lead") == {"matched": 1, "updated": 1}


def test_special_characters_match_only_their_own_records(sf_emulator, tmp_path):
    sf_emulator.seed({"records": {"Lead": [
        {"LastName": "Own", "Company": "Q", "Email": "O'Brien@Quote.test"},
        {"LastName": "Decoy", "Company": "Q", "Email": "obrien@quote.test"},
        {"LastName": "Decoy", "Company": "S", "Email": "backslash@slash.test"},
        {"LastName": "Own", "Company": "P", "Email": "50%off@PCT.test"},
        {"LastName": "Decoy", "Company": "P", "Email": "50Xoff@pct.test"},
        {"LastName": "Own", "Company": "U", "Email": "under_score@US.test"},
        {"LastName": "Decoy", "Company": "U", "Email": "underXscore@us.test"},
        {"LastName": "Decoy", "Company": "N", "Email": "unicode@bucher.test"},
    ]}})
    config = target_config(sf_emulator, tmp_path)
    run = run_target(config, singer_file("prospects_tricky_strings.singer"))
    leads = live(sf_emulator.records("Lead"))
    assert len(leads) == 8, "quote/%/_ prospects matched their own Leads; nothing created"
    assert sorted(r[EXT] for r in leads if r.get(EXT)) == ["t-percent", "t-quote", "t-underscore"]
    assert all(r.get(EXT) is None for r in leads if r["LastName"] == "Decoy")
    # Salesforce accepts no backslash or non-ASCII letters in Email fields: those prospects are
    # rejected with the reason before any write (and their lookups matched nothing).
    assert {r["key"]: r["error_code"] for r in run.rejects} == {"t-backslash": "INVALID_VALUE",
                                                                "t-unicode": "INVALID_VALUE"}
    assert run.counts("Lead")["matched"] == 3

    # Names keep every character; a rerun finds the created record again.
    name = "Back\\slash O'Ünïcødé 100%_x"
    tricky = [prospect("t-name", last_name=name, email="t-name@names.test", company_name="50%_Co 'Q'")]
    run_target(config, messages("prospects", tricky))
    run_target(config, messages("prospects", tricky))
    (lead,) = [r for r in live(sf_emulator.records("Lead")) if r.get(EXT) == "t-name"]
    assert (lead["LastName"], lead["Company"]) == (name, "50%_Co 'Q'")


def test_special_characters_in_account_names(sf_emulator, tmp_path):
    refs = sf_emulator.seed({"records": {"Account": [
        {"_ref": "own", "Name": "O'Reilly & Söhne"}, {"_ref": "decoy", "Name": "OXReilly & Söhne"},
        {"_ref": "pct", "Name": "100% Sure Limited"}, {"Name": "100X Sure"},
        {"_ref": "us", "Name": "Under_Score"}, {"Name": "UnderXScore"},
        {"_ref": "bs", "Name": "Back\\slash"}, {"Name": "Backslash"},
        {"_ref": "uni", "Name": "Bücher Müller"}, {"Name": "Bucher Muller"},
    ]}})
    names = {"n-quote": "O'Reilly & Söhne GmbH", "n-pct": "100% Sure Ltd", "n-us": "Under_Score AB",
             "n-bs": "Back\\slash Inc", "n-uni": "BÜCHER MÜLLER GmbH", "n-new": "Zoë's 50%_Shop"}
    records = [prospect(pid, email=f"{pid}@names.test", company_name=name, company_domain=None)
               for pid, name in names.items()]
    config = target_config(sf_emulator, tmp_path, object_mode="contact_account")
    run_target(config, messages("prospects", records))
    contacts = by(sf_emulator.records("Contact"), EXT)
    assert {pid: contacts[pid]["AccountId"] for pid in ("n-quote", "n-pct", "n-us", "n-bs", "n-uni")} == {
        "n-quote": refs["own"], "n-pct": refs["pct"], "n-us": refs["us"], "n-bs": refs["bs"], "n-uni": refs["uni"]}
    created = [a["Name"] for a in live(sf_emulator.records("Account")) if a["Id"] not in refs.values()
               and a["Name"] not in ("OXReilly & Söhne", "100X Sure", "UnderXScore", "Backslash", "Bucher Muller")]
    assert created == ["Zoë's 50%_Shop"]
    assert contacts["n-new"]["AccountId"] not in refs.values()


# --------------------------------------------------------------------------- update policies


def test_update_policies_and_no_op_updates(sf_emulator, tmp_path):
    refs = sf_emulator.seed({"users": [{"_ref": "s", "Username": "s@sf.test", "Email": "seller@andsend.test",
                                        "LastName": "S", "IsActive": True}],
                             "records": {"Lead": [{"_ref": "l", "LastName": "Lee", "Company": "Acme", "Title": "CEO",
                                                   "Phone": "+1 555", "LeadSource": "Web",
                                                   "Email": "pol@acme.test"}]}})
    owner_before = by(sf_emulator.records("Lead"), "Id")[refs["l"]]["OwnerId"]
    rec = prospect("pol", email="pol@acme.test", title="CTO", phone="+49 1", first_name="Polly",
                   linkedin_url="https://li.test/polly", purchased_by_user_email="seller@andsend.test")
    config = target_config(sf_emulator, tmp_path)
    run_target(config, messages("prospects", [rec]))
    lead = by(sf_emulator.records("Lead"), "Id")[refs["l"]]
    assert lead["Title"] == "CTO"                      # overwrite
    assert lead["Phone"] == "+1 555"                   # if_empty, already set
    assert lead["FirstName"] == "Polly"                # if_empty, was empty
    assert lead["LeadSource"] == "Web"                 # on_create
    assert lead["OwnerId"] == owner_before != refs["s"]  # owner never reassigned on a linked record
    assert lead[EXT] == "pol"

    sf_emulator.reset_stats()
    run_target(config, messages("prospects", [rec]))
    assert writes(sf_emulator.stats()) == {}, "nothing changed: no update sent"
    run = run_target(config, messages("prospects", [dict(rec, title="Chief Polly")]))
    assert by(sf_emulator.records("Lead"), "Id")[refs["l"]]["Title"] == "Chief Polly"
    assert run.counts("Lead") == {"matched": 1, "updated": 1}


def test_owner_policy_overwrite_reassigns(sf_emulator, tmp_path):
    refs = sf_emulator.seed({"users": [{"_ref": "s", "Username": "s@sf.test", "Email": "seller@andsend.test",
                                        "LastName": "S", "IsActive": True}],
                             "records": {"Lead": [{"_ref": "l", "LastName": "L", "Company": "C",
                                                   "Email": "o@c.test"}]}})
    catalog = json.loads(json.dumps(__import__("yaml").safe_load(
        (tmp_path.parent / "x").read_text() if False else
        open(__import__("target_salesforce_andsend").__path__[0] + "/catalogs/lead.yaml").read())))
    for m in catalog["mappings"]:
        if m["field"] == "OwnerId":
            m["policy"] = "overwrite"
    config = target_config(sf_emulator, tmp_path, mapping_catalog_inline=catalog)
    run_target(config, messages("prospects", [prospect("o", email="o@c.test",
                                                       purchased_by_user_email="seller@andsend.test")]))
    assert by(sf_emulator.records("Lead"), "Id")[refs["l"]]["OwnerId"] == refs["s"]


# ----------------------------------------------------------------------------------- owners


@pytest.mark.parametrize("fallback", ["assignment_rules", "integration_user", "user"])
def test_owner_found_inactive_missing_and_fallbacks(sf_emulator, tmp_path, fallback):
    refs = sf_emulator.seed({"users": [
        {"_ref": "act", "Username": "a@sf.test", "Email": "Active@Andsend.test", "LastName": "A", "IsActive": True},
        {"_ref": "ina", "Username": "i@sf.test", "Email": "inactive@andsend.test", "LastName": "I", "IsActive": False},
        {"_ref": "fb", "Username": "fb@sf.test", "Email": "fallback@sf.test", "LastName": "F", "IsActive": True},
    ]})
    admin = next(u["Id"] for u in sf_emulator.records("User") if u["Username"] == "admin@example.com")
    extra = {"fallback_owner_email": "FALLBACK@sf.test"} if fallback == "user" else {}
    config = target_config(sf_emulator, tmp_path, owner_fallback=fallback, **extra)
    records = [prospect("ow-act", email="1@o.test", purchased_by_user_email="active@andsend.test"),
               prospect("ow-ina", email="2@o.test", purchased_by_user_email="inactive@andsend.test"),
               prospect("ow-mis", email="3@o.test", purchased_by_user_email="nobody@andsend.test")]
    run = run_target(config, messages("prospects", records))
    owners = {r[EXT]: r["OwnerId"] for r in live(sf_emulator.records("Lead"))}
    assert owners["ow-act"] == refs["act"]
    expected = refs["fb"] if fallback == "user" else admin
    assert owners["ow-ina"] == owners["ow-mis"] == expected
    if fallback == "user":
        assert run.report["owners"] == {"resolved": 1, "fallback_user": 2}
    else:
        assert run.report["owners"] == {"resolved": 1, "inactive": 1, "not_found": 1}


def test_owner_via_users_stream_and_link_store(sf_emulator, tmp_path):
    refs = sf_emulator.seed({"users": [{"_ref": "s", "Username": "s@sf.test", "Email": "seller@andsend.test",
                                        "LastName": "S", "IsActive": True}]})
    config = target_config(sf_emulator, tmp_path)
    run_target(config, singer_file("users_and_prospects.singer"))
    owners = {r[EXT]: r["OwnerId"] for r in live(sf_emulator.records("Lead"))}
    assert owners["o-001"] == refs["s"] and owners["o-002"] != refs["s"]
    # A later run without the users stream still knows u-1's email (link store).
    run_target(config, messages("prospects", [prospect("o-003", email="o3@own.test", purchased_by_user_id="u-1")]))
    assert {r[EXT]: r["OwnerId"] for r in live(sf_emulator.records("Lead"))}["o-003"] == refs["s"]


# --------------------------------------------------------------------- catalog vs the org


def test_describe_refresh_picks_up_new_custom_field(sf_emulator, tmp_path):
    catalog = {"object_mode": "lead", "mappings": [
        {"source": "last_name", "object": "Lead", "field": "LastName"},
        {"source": "company_name", "object": "Lead", "field": "Company"},
        {"source": "email", "object": "Lead", "field": "Email"},
        {"source": "custom_fields.seniority", "object": "Lead", "field": "Seniority__c", "policy": "overwrite"},
    ]}
    config = target_config(sf_emulator, tmp_path, mapping_catalog_inline=catalog)
    rec = prospect("d-1", email="d1@desc.test", custom_fields={"seniority": "Senior"})
    failed = run_target(config, messages("prospects", [rec]), expect_error=True)
    message = str(failed.error)
    assert "Lead.Seniority__c does not exist" in message
    assert "Setup → Object Manager → Lead → Fields" in message
    assert failed.stdout == "" and sf_emulator.records("Lead") == []
    assert failed.report["status"] == "failed" and "Seniority__c" in failed.report["error"]

    sf_emulator.add_field("Lead", {"name": "Seniority__c", "label": "Seniority", "type": "string", "length": 40,
                                   "custom": True, "nillable": True, "createable": True, "updateable": True})
    run_target(config, messages("prospects", [rec]))
    (lead,) = live(sf_emulator.records("Lead"))
    assert lead["Seniority__c"] == "Senior"


def test_startup_validation_errors_name_object_field_and_fix(sf_emulator, tmp_path):
    catalog = {"object_mode": "contact_account", "mappings": [
        {"source": "last_name", "object": "Contact", "field": "LastName"},
        {"source": "email", "object": "Contact", "field": "Name"},
        {"source": "company_size", "object": "Account", "field": "NumberOfEmployees"},
    ]}
    config = target_config(sf_emulator, tmp_path, mapping_catalog_inline=catalog)
    failed = run_target(config, messages("prospects", [prospect("v-1")]), expect_error=True)
    message = str(failed.error)
    assert "Contact.Name is not createable" in message
    assert "Account.NumberOfEmployees is of type int" in message
    assert "Account.Name is required by Salesforce but no catalog entry fills it" in message
    assert sf_emulator.records("Contact") == []


# ---------------------------------------------------------------- rejects and the threshold


def _blocked_company_org(sf_emulator):
    sf_emulator.seed({"duplicate_rules": [{"object": "Lead", "field": "Company", "action": "block"}],
                      "records": {"Lead": [{"LastName": "Existing", "Company": "Blocked Co", "Email": "e@b.test"}]}})


def test_salesforce_rejects_go_to_rejects_file(sf_emulator, tmp_path):
    _blocked_company_org(sf_emulator)
    records = [prospect("r-1", email="r1@b.test", company_name="Blocked Co"),
               prospect("r-2", email="r2@ok.test", company_name="Fine Co")]
    run = run_target(target_config(sf_emulator, tmp_path), messages("prospects", records))
    (reject,) = run.rejects
    assert (reject["role"], reject["key"], reject["object"], reject["error_code"]) == (
        "prospects", "r-1", "Lead", "DUPLICATES_DETECTED")
    assert reject["record"]["Company"] == "Blocked Co"
    assert {r.get(EXT) for r in live(sf_emulator.records("Lead"))} == {None, "r-2"}
    assert run.counts("Lead") == {"created": 1, "rejected": 1}
    assert run.states, "below the threshold the run succeeds and state moves on"


def test_reject_threshold_fails_the_run_without_state(sf_emulator, tmp_path):
    _blocked_company_org(sf_emulator)
    records = [prospect(f"r-{i}", email=f"r{i}@b.test", company_name="Blocked Co") for i in range(3)]
    run = run_target(target_config(sf_emulator, tmp_path, reject_threshold=2), messages("prospects", records),
                     expect_error=True)
    assert "reject_threshold=2" in str(run.error)
    assert run.stdout == ""
    assert run.report["status"] == "failed" and len(run.rejects) == 3


# ------------------------------------------------------------------------ faults and quota


def test_faults_are_survived_without_duplicates(sf_emulator, tmp_path):
    sf_emulator.faults(error_503_rate=0.2, lock_row_rate=0.2, revoke_tokens_every=7, random_seed=3)
    records = [prospect(f"f-{i}", email=f"f{i}@faults.test") for i in range(60)]
    config = target_config(sf_emulator, tmp_path, object_mode="contact_account")
    run = run_target(config, messages("prospects", records))
    sf_emulator.faults()
    contacts = live(sf_emulator.records("Contact"))
    assert sorted(c[EXT] for c in contacts) == sorted(r["id"] for r in records)
    assert len(live(sf_emulator.records("Account"))) == 1
    assert run.report["status"] == "succeeded"


@pytest.mark.parametrize(("cap", "batch"), [(4, 1000), (7, 200)])  # the describes are one Composite call
def test_quota_stop_then_clean_resume(sf_emulator, tmp_path, cap, batch):
    records = [prospect(f"q-{i}", email=f"q{i}@quota.test", company_domain=f"q{i % 3}.test") for i in range(450)]
    lines = messages("prospects", records)
    config = target_config(sf_emulator, tmp_path, object_mode="contact_account", quota_max_calls_per_run=cap,
                           batch_size_rows=batch)
    stopped = run_target(config, lines, expect_error=True)
    assert "QuotaExhausted" in stopped.report["error"] and "quota_max_calls_per_run" in stopped.report["error"]
    assert stopped.report["status"] == "failed" and stopped.stdout == ""
    # A batch's writes are admitted together: the stop comes between batches, never inside one.
    written = len(live(sf_emulator.records("Contact")))
    assert written % batch == 0 and written < 450
    assert stopped.counts("Contact").get("created", 0) == written

    config["quota_max_calls_per_run"] = 0
    resumed = run_target(config, lines)
    contacts = live(sf_emulator.records("Contact"))
    assert sorted(c[EXT] for c in contacts) == sorted(r["id"] for r in records), "no duplicates, none missing"
    assert len(live(sf_emulator.records("Account"))) == 3
    assert resumed.states


def test_org_limit_exceeded_stops_cleanly(sf_emulator, tmp_path):
    sf_emulator.faults(limit_exceeded_after=2)
    records = [prospect(f"x-{i}", email=f"x{i}@lim.test") for i in range(500)]
    config = target_config(sf_emulator, tmp_path)
    stopped = run_target(config, messages("prospects", records), expect_error=True)
    assert stopped.report["status"] == "failed" and stopped.stdout == ""
    sf_emulator.faults()
    run_target(config, messages("prospects", records))
    assert sorted(r[EXT] for r in live(sf_emulator.records("Lead"))) == sorted(r["id"] for r in records)


def test_stop_after_the_last_write_resumes_to_the_clean_end_state(sf_emulator, tmp_path):
    """A run that Salesforce stops at its very last write call, then resumed, ends exactly as an
    uninterrupted run: here the matched Account's empty Website is filled even though the stop
    came after the Contacts under it were created (the Account update goes first)."""
    account = {"records": {"Account": [{"_ref": "acc", "Name": "Acme Inc", "Website": None}]}}
    records = [prospect(f"st-{i}", email=f"p{i}@acme-inc.test", company_name="Acme Inc",
                        company_domain="acme-inc.test") for i in range(3)]

    def end_state():
        accounts = [(a["Name"], a["Website"]) for a in live(sf_emulator.records("Account"))]
        contacts = sorted((c[EXT], c["AccountId"] is not None) for c in live(sf_emulator.records("Contact")))
        return accounts, contacts

    sf_emulator.seed(account)
    sf_emulator.reset_stats()
    # The CRM-status read at the end of a run would be the last call: this test is about writes.
    run_target(target_config(sf_emulator, tmp_path / "clean", object_mode="contact_account", sync_crm_status=False),
               messages("prospects", records))
    clean, calls = end_state(), sf_emulator.stats()["api_requests"]
    assert clean == ([("Acme Inc", "acme-inc.test")], [("st-0", True), ("st-1", True), ("st-2", True)])

    sf_emulator.reset()
    sf_emulator.seed(account)
    sf_emulator.faults(limit_exceeded_after=calls - 1)  # the last call is refused
    config = target_config(sf_emulator, tmp_path / "stopped", object_mode="contact_account", sync_crm_status=False)
    stopped = run_target(config, messages("prospects", records), expect_error=True)
    assert stopped.report["status"] == "failed" and stopped.stdout == ""
    sf_emulator.faults()
    run_target(config, messages("prospects", records))
    assert end_state() == clean


# ------------------------------------------------------------ orgs without the external id


@pytest.fixture
def org_without_external_id():
    from tests.conftest import SalesforceEmulator, _start_salesforce

    fixture = {"describe": {"omit_fields": {"Lead": [EXT], "Contact": [EXT]}}}
    app, server = _start_salesforce(fixture)
    try:
        yield SalesforceEmulator(server.base_url, app)
    finally:
        server.stop()
        app.state.emulator.store.close()


def test_org_without_external_id_matches_by_email_and_link_store(org_without_external_id, tmp_path):
    emu = org_without_external_id
    records = [prospect("ne-1", email="ne1@noext.test"), prospect("ne-2", email=None, last_name="Nomail")]
    config = target_config(emu, tmp_path)
    run_target(config, messages("prospects", records))
    leads = live(emu.records("Lead"))
    assert sorted(r["LastName"] for r in leads) == ["Lee ne-1", "Nomail"]
    assert all(EXT not in r for r in leads)
    emu.reset_stats()
    second = run_target(config, messages("prospects", records))
    assert len(live(emu.records("Lead"))) == 2, "email-less prospect found again through the link store"
    assert writes(emu.stats()) == {}
    assert second.counts("Lead") == {"matched": 2, "unchanged": 2}
