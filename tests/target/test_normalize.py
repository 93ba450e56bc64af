"""normalize.py: the one notion of equality for emails, domains and company names."""

from __future__ import annotations

import pytest

from target_salesforce_andsend.normalize import (
    company_domain_for,
    company_name_variants,
    normalize_company,
    normalize_domain,
    normalize_email,
    website_variants,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" Ann.Lee@Acme.DE ", "ann.lee@acme.de"),
        ("mailto:bob@x.io", "bob@x.io"),
        ("o'neil@example.com", "o'neil@example.com"),
        ("ÄNNE@Bücher.de", "änne@bücher.de"),
        ("50%_off@shop.com", "50%_off@shop.com"),
        ("not an email", None),
        ("a@b", None),
        ("", None),
        (None, None),
        (42, None),
    ],
)
def test_normalize_email(raw, expected):
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://www.Acme.de/about?x=1", "acme.de"),
        ("WWW.ACME.DE:8080", "acme.de"),
        ("acme.de", "acme.de"),
        ("http://sub.acme.co.uk/", "sub.acme.co.uk"),
        ("ann@Acme.DE", "acme.de"),
        ("http://xn--bcher-kva.de", "bücher.de"),
        ("localhost", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_domain(raw, expected):
    assert normalize_domain(raw) == expected


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Acme GmbH", "ACME"),
        ("Acme, Inc.", "acme inc"),
        ("The Acme Corporation", "Acme"),
        ("Müller & Söhne GmbH & Co. KG", "MULLER & SOHNE"),
        ("O'Reilly Media, Inc.", "o reilly media"),
        ("Volvo AB", "volvo"),
    ],
)
def test_normalize_company_equal(a, b):
    assert normalize_company(a) == normalize_company(b)


def test_normalize_company_keeps_distinct_names_apart():
    assert normalize_company("Acme") != normalize_company("Acme Labs")
    assert normalize_company("Ltd") == "ltd"  # a suffix alone is the name itself
    assert normalize_company("   ") is None


def test_name_variants_cover_common_spellings():
    variants = company_name_variants("Acme GmbH")
    assert "Acme" in variants and "Acme GmbH" in variants and "Acme Inc." in variants
    assert all(normalize_company(v) == "acme" for v in variants)


def test_website_variants_all_normalise_back():
    assert {normalize_domain(v) for v in website_variants("acme.de")} == {"acme.de"}


def test_company_domain_prefers_company_fields_and_skips_free_mail():
    assert company_domain_for({"company_domain": "Acme.de", "email": "a@other.com"}) == "acme.de"
    assert company_domain_for({"company_website": "https://www.acme.de"}) == "acme.de"
    assert company_domain_for({"email": "ann@acme.de"}) == "acme.de"
    assert company_domain_for({"email": "ann@gmail.com"}) is None
