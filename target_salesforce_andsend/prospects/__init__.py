"""Prospects: purchased Andsend prospects become linked or created Leads, or Contacts + Accounts.

`process_batch(run, records)`:

1. prepare (pure): skip what must not be synced (switch off, not purchased), reject bad input
   before any call (no id, broken types, neither last name nor email, malformed email), keep the
   latest copy of a prospect sent twice, and merge prospects with the same normalised email into
   one group = one Salesforce person (later non-empty values win).
2. look up (batched reads): the Matcher for every group at once, the owners in one query.
3. plan (pure, `plan_batch`): per group link/update/create actions; field values from the
   catalog, coerced to the describe types; a matched record is updated only where its field
   policy allows and the value really changes.
4. execute through the Writer (Accounts first, then the people that need their ids), or, on a
   dry run, only write the plan to the report.

Decisions (documented in the README):
* lead mode creates a Lead when no Lead/Contact matches; a Contact match is linked and enriched
  through the catalog's Contact entries (never turned into a Lead).
* contact_account mode links to an Account (domain, then name) or creates one from the Account
  entries, then creates the Contact under it. A Lead match is linked and enriched, not converted
  (conversion is a sales decision with side effects). The Account of a matched Contact is left
  alone.
* Owner: set on create; on a linked record only if the catalog's OwnerId entry says so (default
  on_create: a seller's record is never reassigned). Without an owner, `owner_fallback` picks the
  `Sforce-Auto-Assign` header (assignment_rules: TRUE, integration_user: FALSE) or a fixed user.
* `Andsend_Prospect_Id__c` (where the org has it) is set on every created record and on linked
  records whose field is empty; a record already carrying another prospect's id keeps it.
* Values are never cleared: an empty Andsend value leaves the Salesforce field alone.

The package follows that seam: ``prepare.py`` (1, pure), ``plan.py`` (3, pure: ``plan_batch``
and what it needs) and ``execute.py`` (2 and 4: the lookups, the writes, the link rows and the
report), whose ``process_batch`` is the role's entry point.
"""

from __future__ import annotations

from ..catalog import EXTERNAL_ID_FIELD
from .execute import (
    CREATE_INTENT,
    INTENT_FIELDS,
    ROLE,
    WriteGroup,
    create_intents,
    estimate_write_calls,
    plan_inputs,
    process_batch,
)
from .plan import (
    Action,
    Plan,
    PlanInputs,
    account_aliases,
    account_key,
    field_values,
    match_order,
    merged_prospect_ids,
    plan_batch,
    seller_emails,
)
from .prepare import Group, Prepared, input_problem, prepare

__all__ = [
    "CREATE_INTENT", "EXTERNAL_ID_FIELD", "INTENT_FIELDS", "ROLE", "Action", "Group", "Plan", "PlanInputs", "Prepared",
    "WriteGroup", "account_aliases", "account_key", "create_intents", "estimate_write_calls", "field_values",
    "input_problem", "match_order", "merged_prospect_ids", "plan_batch", "plan_inputs", "prepare", "process_batch",
    "seller_emails",
]
