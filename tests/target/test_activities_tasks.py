"""Unit tests for the pure Task building (target_salesforce_andsend.tasks)."""

from __future__ import annotations

from target_salesforce_andsend import tasks
from target_salesforce_andsend.tasks import TaskOrgFacts

ALL_SUBTYPES = frozenset({"Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn"})
EXT = TaskOrgFacts("Andsend_Touchpoint_Id__c", ALL_SUBTYPES, False)
NO_EXT = TaskOrgFacts(None, ALL_SUBTYPES, False)


def tp(**kw):
    base = {
        "id": "tp_1",
        "prospect_id": "p_1",
        "channel": "email",
        "type": "email_sent",
        "subject": "Quick question about Acme",
        "body": "Hi Ann,\n\nIs Acme hiring?\n\nBest, Bo",
        "executed_at": "2026-01-05T23:30:00-02:00",
        "created_at": "2026-01-05T23:30:00Z",
        "updated_at": "2026-01-05T23:30:00Z",
    }
    base.update(kw)
    return base


def test_email_subject_with_and_without_content():
    assert tasks.build_subject(tp(), include_content=True) == "Email: Quick question about Acme"
    assert tasks.build_subject(tp(), include_content=False) == "Email: Sent"
    assert tasks.build_subject(tp(type="email_reply"), include_content=True) == "Email reply: Quick question about Acme"
    assert tasks.build_subject(tp(subject=None), include_content=True) == "Email: Sent"


def test_linkedin_subjects():
    li = tp(channel="linkedin", type="linkedin_connection_request", subject=None, body="Let's connect")
    assert tasks.build_subject(li, include_content=True) == "LinkedIn: Connection request"
    visit = tp(channel="linkedin", type="linkedin_profile_visit", subject=None, body=None)
    assert tasks.build_subject(visit, include_content=True) == "LinkedIn: Profile visit"
    inmail = tp(channel="linkedin", type="linkedin_inmail", subject="Hello")
    assert tasks.build_subject(inmail, include_content=True) == "LinkedIn InMail: Hello"
    assert tasks.build_subject(inmail, include_content=False) == "LinkedIn: InMail"


def test_long_subject_cut_on_word_and_marker_survives():
    long = "word " * 200
    s = tasks.build_subject(tp(subject=long), include_content=True)
    assert len(s) <= 255 and s.endswith("…") and "wor…" not in s
    m = tasks.marker_token("tp_1")
    s2 = tasks.build_subject(tp(subject=long), include_content=True, marker=m)
    assert len(s2) <= 255 and s2.endswith(" [andsend:tp_1]")
    assert tasks.markers_in(s2) == {"tp_1"}


def test_subject_newlines_collapsed():
    assert tasks.build_subject(tp(subject="a\nb\t c"), include_content=True) == "Email: a b c"


def test_description_cut_at_paragraph_with_marker():
    body = ("para " * 100 + "\n\n") * 200  # ~100k chars
    d = tasks.build_description(tp(body=body), include_content=True)
    assert tasks.sf_len(d) <= 32_000
    assert d.endswith("\n[… truncated by Andsend]")
    assert d[: -len(tasks.TRUNCATION_MARKER)].endswith("para")


def test_description_counts_utf16_units():
    body = "😀" * 20_000  # 40,000 UTF-16 units, 20,000 code points
    d = tasks.build_description(tp(body=body), include_content=True)
    assert tasks.sf_len(d) <= 32_000 and d.endswith(tasks.TRUNCATION_MARKER)


def test_short_description_untouched_and_off_means_none():
    assert tasks.build_description(tp(), include_content=True) == "Hi Ann,\n\nIs Acme hiring?\n\nBest, Bo"
    assert tasks.build_description(tp(), include_content=False) is None


def test_build_task_with_external_id():
    t = tasks.build_task(tp(), facts=EXT, include_content=True, who_id="003X", what_id="001X", owner_id="005X")
    assert t["Status"] == "Completed"
    assert t["ActivityDate"] == "2026-01-06"  # UTC date of 23:30-02:00
    assert t["TaskSubtype"] == "Email"
    assert t["Andsend_Touchpoint_Id__c"] == "tp_1"
    assert t["WhoId"] == "003X" and t["WhatId"] == "001X" and t["OwnerId"] == "005X"
    assert "[andsend:" not in t["Subject"]
    assert t["Description"].startswith("Executed via Andsend at 2026-01-06T01:30:00Z\n\nHi Ann")


def test_build_task_without_external_id_and_content_off():
    t = tasks.build_task(tp(), facts=NO_EXT, include_content=False, who_id="00QX", what_id=None, owner_id=None)
    assert t["Subject"] == "Email: Sent [andsend:tp_1]"
    assert "Andsend_Touchpoint_Id__c" not in t and "WhatId" not in t and "OwnerId" not in t
    assert "Quick" not in repr(t) and "hiring" not in repr(t)


def test_completed_datetime_when_writable():
    facts = TaskOrgFacts(None, ALL_SUBTYPES, True)
    t = tasks.build_task(tp(), facts=facts, include_content=False, who_id="00QX", what_id=None, owner_id=None)
    assert t["CompletedDateTime"] == "2026-01-06T01:30:00.000+0000"
    assert "Description" not in t


def test_subtype_fallbacks():
    assert tasks.choose_subtype("linkedin", ALL_SUBTYPES) == "LinkedIn"
    assert tasks.choose_subtype("linkedin", frozenset({"Task", "Email"})) == "Task"
    assert tasks.choose_subtype("email", frozenset({"Task", "Email"})) == "Email"
    assert tasks.choose_subtype("linkedin", frozenset()) is None


def test_marker_for_unsafe_ids_is_stable_hash():
    m = tasks.marker_token("weird id ] %")
    assert m == tasks.marker_token("weird id ] %") and m.startswith("[andsend:h:")
    assert tasks.markers_in("x " + m) == {tasks.marker_id("weird id ] %")}


def test_sort_writes_skips_existing_and_refuses_case_conflicts():
    from target_salesforce_andsend.task_plan import sort_writes

    folding = TaskOrgFacts("Andsend_Touchpoint_Id__c", ALL_SUBTYPES, False, external_id_case_sensitive=False)
    writes = [({"id": i}, {"Subject": i}) for i in ("tp_A", "tp_b", "tp_B", "tp_a", "tp_c")]
    decided = [(d, tp["id"], other) for d, tp, _task, other in sort_writes(folding, writes, {"tp_A"})]
    assert decided == [("already", "tp_A", None), ("send", "tp_b", None), ("case_conflict", "tp_B", "tp_b"),
                       ("case_conflict", "tp_a", "tp_A"), ("send", "tp_c", None)]
    # A case-sensitive field keeps them apart; without the field the Subject marker decides.
    assert [d for d, *_ in sort_writes(EXT, writes, {"tp_A"})] == ["already", "send", "send", "send", "send"]
    assert [d for d, *_ in sort_writes(NO_EXT, writes, {tasks.marker_id("tp_c")})][-1] == "already"
