"""Property test: emails full of SOQL-special characters match exactly their own records."""

from __future__ import annotations

import logging
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from target_salesforce_andsend.context import build_run
from target_salesforce_andsend.matching import PersonKey
from tests.target._target_support import live, messages, prospect, run_target, target_config

ATEXT = "abcXYZ019!#$%&'*+/=?^_`{|}~-\\"
local_part = st.text(alphabet=ATEXT.replace("\\", ""), min_size=1, max_size=12).filter(
    lambda s: any(c in s for c in "'%_\\{}"))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(locals_=st.lists(local_part, min_size=1, max_size=5, unique_by=str.casefold))
def test_special_emails_match_only_their_own_records(sf_emulator_session, tmp_path_factory, locals_):
    emu = sf_emulator_session
    emu.reset()
    own, decoys = [], []
    for i, local in enumerate(locals_):
        email = f"{local}@p{i}.test"
        own.append({"_ref": f"o{i}", "LastName": "Own", "Company": "C", "Email": email.swapcase()})
        decoy = "".join("X" if c in "'%_\\{}" else c for c in local)
        if decoy.casefold() not in {x.casefold() for x in locals_}:
            decoys.append({"LastName": "Decoy", "Company": "C", "Email": f"{decoy}@p{i}.test"})
    refs = emu.seed({"records": {"Lead": own + decoys}})
    run = build_run(target_config(emu, tmp_path_factory.mktemp("p"), pipeline_id=f"prop-{uuid.uuid4().hex}"),
                    logging.getLogger("prop"))
    keys = [PersonKey(key=str(i), prospect_id=f"pp{i}", email=f"{local}@p{i}.test") for i, local in enumerate(locals_)]
    matches = run.matcher.match(keys, order=["external_id", "contact_email", "lead_email"])
    assert {k: (m.record_id if m else None) for k, m in matches.items()} == {
        str(i): refs[f"o{i}"] for i in range(len(locals_))}
    assert all(m.candidates == [m.record_id] for m in matches.values() if m)


def test_bulk_path_for_large_batches(sf_emulator, tmp_path):
    # Bulk API 2.0 honours Sforce-Auto-Assign only as FALSE, so integration_user lets creates go bulk.
    records = [prospect(f"bk-{i}", email=f"bk{i}@bulk.test") for i in range(30)]
    config = target_config(sf_emulator, tmp_path, bulk_threshold=10, owner_fallback="integration_user")
    run = run_target(config, messages("prospects", records))
    assert sorted(r["Andsend_Prospect_Id__c"] for r in live(sf_emulator.records("Lead"))) == sorted(
        r["id"] for r in records)
    assert run.report["api_calls"].get("bulk_create_job") == 1
    assert run.counts("Lead") == {"created": 30}
