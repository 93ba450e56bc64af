"""catalog.py: schema validation, describe checks, values and coercion (no HTTP)."""

from __future__ import annotations

import json

import pytest

from target_salesforce_andsend.catalog import (
    CatalogError,
    check_catalog,
    default_catalog_document,
    load_catalog,
    load_schema,
    parse_catalog,
)
from target_salesforce_andsend.transforms import coerce, same_value, source_value
from tests.target._describes import describe, describes


def test_default_catalogs_fit_the_default_org():
    for mode in ("lead", "contact_account"):
        catalog = load_catalog({"object_mode": mode})
        assert catalog.object_mode == mode
        assert check_catalog(catalog, describes()) == []


def test_schema_loads_and_rejects_unknown_policy():
    assert load_schema()["title"].startswith("Andsend")
    doc = default_catalog_document("lead")
    doc["mappings"][0]["policy"] = "sometimes"
    with pytest.raises(CatalogError, match="mappings/0/policy"):
        parse_catalog(doc, origin="test")


def test_object_mode_setting_overrides_catalog(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(default_catalog_document("contact_account")))
    catalog = load_catalog({"mapping_catalog": str(path), "object_mode": "lead"})
    assert catalog.object_mode == "lead"
    assert catalog.origin == str(path)


def test_inline_catalog_wins_and_duplicates_are_refused():
    inline = {"object_mode": "lead", "mappings": [
        {"source": "last_name", "object": "Lead", "field": "LastName"},
        {"source": "company_name", "object": "Lead", "field": "Company"},
    ]}
    assert len(load_catalog({"mapping_catalog_inline": inline}).mappings) == 2
    inline["mappings"].append({"source": "first_name", "object": "Lead", "field": "lastname"})
    with pytest.raises(CatalogError, match="mapped twice"):
        load_catalog({"mapping_catalog_inline": inline})


def _statuses(issues):
    return {(i.object, i.field, i.status) for i in issues}


def test_describe_check_names_object_field_and_fix():
    catalog = load_catalog({"object_mode": "lead"})
    issues = check_catalog(catalog, describes(omit={"Lead": ["LinkedIn_Profile__c"]}))
    assert _statuses(issues) == {("Lead", "LinkedIn_Profile__c", "missing")}
    assert "Setup → Object Manager → Lead → Fields" in issues[0].message


def test_describe_check_not_writable_type_mismatch_and_required_unmapped():
    inline = {"object_mode": "lead", "mappings": [
        {"source": "last_name", "object": "Lead", "field": "LastName"},
        {"source": "email", "object": "Lead", "field": "Name"},                 # not createable
        {"source": "company_size", "object": "Lead", "field": "NumberOfEmployees"},  # string -> int
        {"source": "campaign_ids", "object": "Lead", "field": "Description"},   # array -> text
        {"source": "title", "object": "Lead", "field": "IsConverted", "policy": "overwrite"},
    ]}
    issues = check_catalog(load_catalog({"mapping_catalog_inline": inline}), describes())
    assert _statuses(issues) == {
        ("Lead", "Name", "not_writable"),
        ("Lead", "NumberOfEmployees", "type_mismatch"),
        ("Lead", "Description", "type_mismatch"),
        ("Lead", "IsConverted", "not_writable"),
        ("Lead", "Company", "required_unmapped"),
    }


def test_contact_account_requires_account_name():
    doc = default_catalog_document("contact_account")
    doc["mappings"] = [m for m in doc["mappings"] if (m["object"], m["field"]) != ("Account", "Name")]
    issues = check_catalog(parse_catalog(doc, origin="t"), describes())
    assert _statuses(issues) == {("Account", "Name", "required_unmapped")}


def test_source_value_transforms():
    rec = {"first_name": "Ann", "last_name": "Lee", "company_website": "https://www.Acme.de/x",
           "custom_fields": {"tier": "Gold"}, "title": "  CTO "}
    cat = parse_catalog({"object_mode": "lead", "mappings": [
        {"source": "company_website", "object": "Lead", "field": "Website",
         "transform": {"type": "domain_from_website"}},
        {"object": "Lead", "field": "Description",
         "transform": {"type": "join", "fields": ["first_name", "last_name"], "separator": "/"}},
        {"object": "Lead", "field": "Title",
         "transform": {"type": "template", "template": "{title} at {company_name}"}},
        {"source": "custom_fields.tier", "object": "Lead", "field": "Industry", "transform": [{"type": "lowercase"}]},
        {"source": ["company_name", "company_website"], "object": "Lead", "field": "Company"},
        {"source": "nothing", "object": "Lead", "field": "City", "transform": {"type": "default", "value": "n/a"}},
        {"source": "custom_fields.tier", "object": "Lead", "field": "LeadSource",
         "transform": {"type": "map", "values": {"gold": "Partner"}, "default": "Other"}},
    ]}, origin="t")
    got = {m.field: source_value(rec, m) for m in cat.mappings}
    assert got == {"Website": "acme.de", "Description": "Ann/Lee", "Title": "CTO at", "Industry": "gold",
                   "Company": "https://www.Acme.de/x", "City": "n/a", "LeadSource": "Partner"}


def _field(obj, name):
    return next(f for f in describe(obj)["fields"] if f["name"] == name)


def test_coercion_by_type_and_overlength():
    assert coerce("x" * 50, _field("Lead", "FirstName")) == "x" * 40
    with pytest.raises(Exception, match="exceeds the field length 40"):
        coerce("x" * 50, _field("Lead", "FirstName"), on_overlength="reject")
    with pytest.raises(Exception, match="invalid email"):
        coerce("nope", _field("Lead", "Email"))
    assert coerce("12", _field("Lead", "NumberOfEmployees")) == 12
    with pytest.raises(Exception, match="whole number"):
        coerce("12.5", _field("Lead", "NumberOfEmployees"))
    assert coerce("yes", _field("Lead", "HasOptedOutOfEmail")) is True
    assert coerce("1,250.5", _field("Account", "AnnualRevenue")) == 1250.5
    assert coerce("2024-05-01T22:30:00+02:00", {"name": "D", "type": "date"}) == "2024-05-01"
    assert coerce("2024-05-01T22:30:00+02:00", {"name": "T", "type": "datetime"}) == "2024-05-01T20:30:00.000+0000"
    restricted = {"name": "P", "type": "picklist", "restrictedPicklist": True,
                  "picklistValues": [{"value": "Web", "active": True}]}
    assert coerce("web", restricted) == "Web"
    with pytest.raises(Exception, match="not an allowed picklist value"):
        coerce("Fax", restricted)


def test_same_value_ignores_case_only_where_salesforce_does():
    email = _field("Lead", "Email")
    assert same_value("Ann@X.io", "ann@x.io", email)
    assert not same_value("Ann", "ann", _field("Lead", "FirstName"))
    assert same_value(5, 5.0, _field("Lead", "NumberOfEmployees"))
    assert same_value(None, "", email)
    assert not same_value("a", None, email)


def test_overlength_counts_utf16_units_like_salesforce_and_the_task_fields():
    """One rule for every length: UTF-16 code units (an emoji is two), never splitting a pair."""
    from target_salesforce_andsend.tasks import sf_len

    first_name = _field("Lead", "FirstName")  # length 40
    assert coerce("😀" * 20, first_name) == "😀" * 20
    cut = coerce("a" + "😀" * 20, first_name)
    assert cut == "a" + "😀" * 19 and sf_len(cut) == 39  # the 40th unit would split an emoji
    with pytest.raises(Exception, match="42 characters exceeds the field length 40"):
        coerce("😀" * 21, first_name, on_overlength="reject")
