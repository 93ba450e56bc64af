"""A run's describes travel in one Composite call; what it cannot describe falls back to describe()."""

from __future__ import annotations

import pytest

from target_salesforce_andsend.salesforce.client import SalesforceClient
from target_salesforce_andsend.salesforce.errors import SalesforceAPIError
from tests.target._salesforce_support import password_config


@pytest.fixture
def sf(sf_emulator):
    sf_emulator.reset()
    return sf_emulator


def test_describe_many_is_one_composite_call_and_fills_the_cache(sf) -> None:
    client = SalesforceClient(password_config(sf))
    client.connect()
    sf.reset_stats()
    got = client.describe_many(["Lead", "Contact", "Account", "Task"])
    assert {k: v["name"] for k, v in got.items()} == {o: o for o in ("Lead", "Contact", "Account", "Task")}
    assert any(f["name"] == "Email" for f in got["Lead"]["fields"])
    client.describe("contact")  # cached
    assert sf.stats()["by_kind"] == {"composite": 1}


def test_an_object_the_composite_cannot_describe_raises_where_it_is_needed(sf) -> None:
    client = SalesforceClient(password_config(sf))
    client.connect()
    sf.reset_stats()
    got = client.describe_many(["Lead", "Task"])
    assert set(got) == {"Lead", "Task"}
    client.describe_many(["Contact", "NoSuchObject"])  # prefetch: no error for the unknown object
    assert "contact" in client._describe_cache and "nosuchobject" not in client._describe_cache
    with pytest.raises(SalesforceAPIError):
        client.describe("NoSuchObject")
    assert sf.stats()["by_kind"] == {"composite": 2, "describe": 1}
