"""Bulk API 2.0 ingest over plain HTTP: state machine, CSV dialects, results, failures."""

from __future__ import annotations

import csv
import io
import time

import pytest


def _job(s, api, **body):
    r = s.post(f"{api}/jobs/ingest", json={"contentType": "CSV", **body}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def _wait(s, api, job_id, timeout=10.0):
    states = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = s.get(f"{api}/jobs/ingest/{job_id}", timeout=10).json()
        states.append(info["state"])
        if info["state"] in ("JobComplete", "Failed", "Aborted"):
            return info, states
        time.sleep(0.02)
    raise AssertionError(f"job stuck: {states[-3:]}")


def _csv(text):
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize("delimiter,line_ending,sep,eol", [
    ("COMMA", "LF", ",", "\n"), ("TAB", "CRLF", "\t", "\r\n"), ("PIPE", "LF", "|", "\n"),
    ("SEMICOLON", "CRLF", ";", "\r\n"), ("CARET", "LF", "^", "\n"), ("BACKQUOTE", "LF", "`", "\n"),
])
def test_insert_dialects(sf_emulator, delimiter, line_ending, sep, eol):
    s = sf_emulator.session()
    api = sf_emulator.api_url
    job = _job(s, api, object="Lead", operation="insert", columnDelimiter=delimiter, lineEnding=line_ending)
    assert job["state"] == "Open" and job["id"].startswith("750")
    assert job["contentUrl"] == f"services/data/v60.0/jobs/ingest/{job['id']}/batches"
    rows = [["LastName", "Company", "Description"], ["Ann", "Acme", 'multi\nline "quoted"'], ["Bob", "Globex", ""]]
    buf = io.StringIO()
    csv.writer(buf, delimiter=sep, lineterminator=eol).writerows(rows)
    r = s.put(f"{sf_emulator.base_url}/{job['contentUrl']}", data=buf.getvalue().encode(),
              headers={"Content-Type": "text/csv"}, timeout=10)
    assert r.status_code == 201 and r.text == ""
    closed = s.patch(f"{api}/jobs/ingest/{job['id']}", json={"state": "UploadComplete"}, timeout=10).json()
    assert closed["state"] == "UploadComplete"
    info, _ = _wait(s, api, job["id"])
    assert info["state"] == "JobComplete" and info["numberRecordsProcessed"] == 2
    leads = {x["LastName"]: x for x in sf_emulator.records("Lead")}
    assert leads["Ann"]["Description"] == 'multi\nline "quoted"' and leads["Bob"]["Description"] is None


def test_polling_sees_in_progress_and_results_routes(sf_emulator):
    s = sf_emulator.session()
    api = sf_emulator.api_url
    sf_emulator.settings(bulk_processing_delay_ms=400)
    job = _job(s, api, object="Contact", operation="insert")
    data = "LastName,Email,HasOptedOutOfEmail,Foo\n"
    s.put(f"{api}/jobs/ingest/{job['id']}/batches", data=data, headers={"Content-Type": "text/csv"}, timeout=10)
    s.patch(f"{api}/jobs/ingest/{job['id']}", json={"state": "UploadComplete"}, timeout=10)
    info, states = _wait(s, api, job["id"])
    assert info["state"] == "Failed" and "Foo" in info["errorMessage"]  # unknown column fails the job
    assert "UploadComplete" in states or "InProgress" in states

    job = _job(s, api, object="Contact", operation="insert")
    data = ("LastName,Email,HasOptedOutOfEmail\nA,a@x.com,true\nB,b@x.com,maybe\n,c@x.com,false\n"
            "D,d@x.com,#N/A\n")
    s.put(f"{api}/jobs/ingest/{job['id']}/batches", data=data, headers={"Content-Type": "text/csv"}, timeout=10)
    s.patch(f"{api}/jobs/ingest/{job['id']}", json={"state": "UploadComplete"}, timeout=10)
    info, states = _wait(s, api, job["id"])
    assert "InProgress" in states and info["numberRecordsFailed"] == 2
    failed = _csv(s.get(f"{api}/jobs/ingest/{job['id']}/failedResults", timeout=10).text)
    assert [f["sf__Error"] for f in failed] == [
        "INVALID_TYPE_ON_FIELD_IN_RECORD:Email Opt Out: value not of required type: maybe:HasOptedOutOfEmail --",
        "REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --"]
    ok = _csv(s.get(f"{api}/jobs/ingest/{job['id']}/SUCCESSFULRESULTS", timeout=10).text)
    assert [o["LastName"] for o in ok] == ["A", "D"]
    stored = {c["LastName"]: c for c in sf_emulator.records("Contact")}
    assert stored["A"]["HasOptedOutOfEmail"] is True and stored["D"]["HasOptedOutOfEmail"] is False
    unprocessed = s.get(f"{api}/jobs/ingest/{job['id']}/unprocessedRecords", timeout=10)
    assert unprocessed.status_code == 200 and unprocessed.headers["content-type"].startswith("text/csv")


def test_update_delete_and_upsert_by_id(sf_emulator):
    s = sf_emulator.session()
    api = sf_emulator.api_url
    ids = [s.post(f"{api}/sobjects/Account", json={"Name": f"A{i}"}, timeout=10).json()["id"] for i in range(3)]
    job = _job(s, api, object="Account", operation="update")
    data = f"Id,Website\n{ids[0]},acme.com\n{ids[1][:15]},globex.com\n001000000000000AAA,x.com\n"
    s.put(f"{api}/jobs/ingest/{job['id']}/batches", data=data, headers={"Content-Type": "text/csv"}, timeout=10)
    s.patch(f"{api}/jobs/ingest/{job['id']}", json={"state": "UploadComplete"}, timeout=10)
    info, _ = _wait(s, api, job["id"])
    assert info["numberRecordsProcessed"] == 3 and info["numberRecordsFailed"] == 1
    assert [a["Website"] for a in sf_emulator.records("Account")] == ["acme.com", "globex.com", None]
    job = _job(s, api, object="Account", operation="delete")
    s.put(f"{api}/jobs/ingest/{job['id']}/batches", data=f"Id\n{ids[2]}\n", headers={"Content-Type": "text/csv"},
          timeout=10)
    s.patch(f"{api}/jobs/ingest/{job['id']}", json={"state": "UploadComplete"}, timeout=10)
    _wait(s, api, job["id"])
    assert [a["IsDeleted"] for a in sf_emulator.records("Account")] == [False, False, True]


def test_job_errors_and_abort(sf_emulator):
    s = sf_emulator.session()
    api = sf_emulator.api_url
    r = s.post(f"{api}/jobs/ingest", json={"object": "Nope", "operation": "insert"}, timeout=10)
    assert r.status_code == 400
    r = s.post(f"{api}/jobs/ingest", json={"object": "Lead", "operation": "upsert"}, timeout=10)
    assert r.status_code == 400  # externalIdFieldName required
    job = _job(s, api, object="Lead", operation="insert")
    r = s.put(f"{api}/jobs/ingest/{job['id']}/batches", json={"a": 1}, timeout=10)
    assert r.status_code == 415
    r = s.patch(f"{api}/jobs/ingest/{job['id']}", json={"state": "Aborted"}, timeout=10)
    assert r.json()["state"] == "Aborted"
    r = s.put(f"{api}/jobs/ingest/{job['id']}/batches", data="LastName\nx\n", headers={"Content-Type": "text/csv"},
              timeout=10)
    assert r.status_code >= 400
    assert s.get(f"{api}/jobs/ingest/750000000000000AAA", timeout=10).status_code == 404
    listing = s.get(f"{api}/jobs/ingest", timeout=10).json()
    assert listing["done"] is True and [j["id"] for j in listing["records"]] == [job["id"]]
    job = _job(s, api, object="Lead", operation="insert", lineEnding="CRLF")
    s.put(f"{api}/jobs/ingest/{job['id']}/batches", data="LastName,Company\nA,B\n",
          headers={"Content-Type": "text/csv"}, timeout=10)
    s.patch(f"{api}/jobs/ingest/{job['id']}", json={"state": "UploadComplete"}, timeout=10)
    info, _ = _wait(s, api, job["id"])
    assert info["state"] == "Failed" and "LineEnding" in info["errorMessage"]


def test_bulk_lock_faults(sf_emulator):
    s = sf_emulator.session()
    api = sf_emulator.api_url
    sf_emulator.faults(lock_row_rate=0.5, random_seed=3)
    job = _job(s, api, object="Lead", operation="insert")
    data = "LastName,Company\n" + "".join(f"L{i},C\n" for i in range(40))
    s.put(f"{api}/jobs/ingest/{job['id']}/batches", data=data, headers={"Content-Type": "text/csv"}, timeout=10)
    s.patch(f"{api}/jobs/ingest/{job['id']}", json={"state": "UploadComplete"}, timeout=10)
    info, _ = _wait(s, api, job["id"])
    failed = _csv(s.get(f"{api}/jobs/ingest/{job['id']}/failedResults", timeout=10).text)
    assert len(failed) == info["numberRecordsFailed"] > 0
    assert all(f["sf__Error"].startswith("UNABLE_TO_LOCK_ROW") for f in failed)
    assert len(sf_emulator.records("Lead")) == 40 - len(failed)
