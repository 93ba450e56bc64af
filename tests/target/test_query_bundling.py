"""query_many through the QueryBundler, against the emulator: statements five to a Composite call,
concurrent callers sharing calls, paging, refused and throttled subrequests."""

from __future__ import annotations

import threading
import uuid

import pytest

from target_salesforce_andsend.salesforce.client import SalesforceClient
from target_salesforce_andsend.salesforce.errors import SalesforceAPIError
from target_salesforce_andsend.salesforce.soql import quote
from tests.target._salesforce_support import control, password_config


@pytest.fixture
def sf(sf_emulator):
    sf_emulator.reset()
    return sf_emulator


def _leads(sf, tag: str, n: int) -> None:
    sf.seed({"records": {"Lead": [{"LastName": f"L{i:04d}", "Company": tag, "Email": f"l{i}@{tag}.test"}
                                  for i in range(n)]}})


def _by_email(tag: str, emails: list[str]) -> str:
    return f"SELECT Id, Email FROM Lead WHERE Company = {quote(tag)} AND Email IN ({','.join(map(quote, emails))})"


def test_seven_statements_are_two_composite_calls_with_answers_in_order(sf) -> None:
    tag = uuid.uuid4().hex[:12]
    _leads(sf, tag, 70)
    client = SalesforceClient(password_config(sf))
    client.connect()
    control(sf, "POST", "stats/reset")
    statements = [_by_email(tag, [f"l{i}@{tag}.test" for i in range(k * 10, k * 10 + k + 1)]) for k in range(7)]
    results = client.query_many(statements)
    assert [sorted(r["Email"] for r in rows) for rows in results] == [
        sorted(f"l{i}@{tag}.test" for i in range(k * 10, k * 10 + k + 1)) for k in range(7)]
    stats = sf.stats()
    assert stats["by_kind"] == {"composite": 2}, stats
    assert stats["composite_subrequests"] == {"query": 7}
    assert client.calls_snapshot()["composite"] == 2


def test_concurrent_callers_share_a_composite_call(sf) -> None:
    tag = uuid.uuid4().hex[:12]
    _leads(sf, tag, 10)
    client = SalesforceClient(password_config(sf))
    client.connect()
    control(sf, "POST", "stats/reset")
    answers: dict[int, list] = {}
    start = threading.Barrier(3)

    def ask(k: int) -> None:
        start.wait()
        answers[k] = client.query_many([_by_email(tag, [f"l{k}@{tag}.test"])])

    threads = [threading.Thread(target=ask, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {k: [r["Email"] for r in rows[0]] for k, rows in answers.items()} == {
        k: [f"l{k}@{tag}.test"] for k in range(3)}
    assert sf.stats()["by_kind"] == {"composite": 1}  # three callers, one counted call


def test_later_pages_are_followed_for_each_statement(sf) -> None:
    tag = uuid.uuid4().hex[:12]
    _leads(sf, tag, 2500)  # more than one page of 2,000
    client = SalesforceClient(password_config(sf))
    every = f"SELECT Id FROM Lead WHERE Company = {quote(tag)}"
    results = client.query_many([every, _by_email(tag, ["l1@" + tag + ".test"]), every])
    assert [len(rows) for rows in results] == [2500, 1, 2500]
    assert client.calls_snapshot().get("query_more") == 2


def test_a_refused_statement_raises_after_the_others_are_answered(sf) -> None:
    tag = uuid.uuid4().hex[:12]
    _leads(sf, tag, 3)
    client = SalesforceClient(password_config(sf))
    with pytest.raises(SalesforceAPIError) as err:
        client.query_many([_by_email(tag, [f"l0@{tag}.test"]), "SELECT Nope__c FROM Lead",
                           _by_email(tag, [f"l1@{tag}.test"])])
    assert err.value.status == 400 and err.value.error_code == "INVALID_FIELD"
    assert sf.stats()["by_kind"].get("composite") == 1


def test_a_throttled_subrequest_is_asked_again_alone(sf) -> None:
    tag = uuid.uuid4().hex[:12]
    _leads(sf, tag, 50)
    client = SalesforceClient(password_config(sf, retry_backoff_seconds=0.01))
    client.connect()
    sf.faults(subrequest_503_rate=0.5, random_seed=4)
    statements = [_by_email(tag, [f"l{i}@{tag}.test" for i in range(k * 10, k * 10 + 10)]) for k in range(5)]
    results = client.query_many(statements)
    sf.faults()
    assert [len(rows) for rows in results] == [10] * 5
    kinds = sf.stats()["by_kind"]
    assert kinds.get("composite") == 1 and kinds.get("query", 0) >= 1, kinds  # the refused ones, alone


def test_announced_readers_share_a_call_even_when_one_is_slow(sf) -> None:
    """Readers wrapped with ``together`` wait for each other (the gather window alone is 50 ms);
    one that returns without reading releases the others."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    tag = uuid.uuid4().hex[:12]
    _leads(sf, tag, 10)
    client = SalesforceClient(password_config(sf))
    client.connect()
    control(sf, "POST", "stats/reset")

    def slow(k: int) -> list:
        time.sleep(0.4)  # building its statements takes longer than the gather window
        return client.query_many([_by_email(tag, [f"l{k}@{tag}.test"])])

    def quick(k: int) -> list:
        return client.query_many([_by_email(tag, [f"l{k}@{tag}.test"])])

    first, second = client.together(quick), client.together(slow)
    with ThreadPoolExecutor(1) as pool:
        later = pool.submit(second, 2)
        now = first(1)
    assert [r["Email"] for r in now[0]] == [f"l1@{tag}.test"]
    assert [r["Email"] for r in later.result()[0]] == [f"l2@{tag}.test"]
    assert sf.stats()["by_kind"] == {"composite": 1}

    control(sf, "POST", "stats/reset")
    started = time.monotonic()
    idle, reader = client.together(lambda: None), client.together(quick)
    idle()
    assert len(reader(3)[0]) == 1 and time.monotonic() - started < 1.5  # not held for the idle one
    assert sf.stats()["by_kind"] == {"query": 1}
