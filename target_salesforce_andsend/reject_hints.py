"""What an admin changes in Salesforce (or in Andsend) for each rejects error code: one line per code,
written on every rejects line (`hint`), and the code's cause, which decides whether later runs retry
the record by themselves (`rejects_replay.py`).

Causes that an org change can clear (the record itself was fine) are retried automatically with
back-off: ``validation`` (validation rules, restricted picklists, required fields of the org),
``automation`` (triggers and flows), ``access`` (field-level security, sharing, record types),
``lock`` (records held by another process), ``duplicate`` (a duplicate rule that blocks). Bad input
(``input``) cannot change by itself: those records wait for `rejects replay` after the data or the
mapping catalog was fixed. Codes not listed are ``other`` and are treated like input.
"""

from __future__ import annotations

from typing import NamedTuple


class Hint(NamedTuple):
    cause: str
    text: str


RETRYABLE_CAUSES = frozenset({"validation", "automation", "access", "lock", "duplicate"})

HINTS: dict[str, Hint] = {
    "FIELD_CUSTOM_VALIDATION_EXCEPTION": Hint(
        "validation", "A validation rule refused the values: relax or deactivate the rule named in the message "
        "(Setup > Object Manager > <object> > Validation Rules), or fix the value in Andsend."),
    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST": Hint(
        "validation", "The value is not in the restricted picklist of the record type: add it to the picklist "
        "values (Setup > Object Manager > <object> > Fields or Record Types) or map it in the catalog."),
    "FIELD_INTEGRITY_EXCEPTION": Hint(
        "validation", "The org refused the value's form (e.g. a country or state outside the State and "
        "Country/Territory picklists): add the value in Setup > State and Country/Territory Picklists."),
    "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY": Hint(
        "automation", "A trigger or flow failed on this record (named in the message): fix or deactivate it "
        "(Setup > Apex Triggers / Flows), then run `rejects replay`."),
    "UNABLE_TO_LOCK_ROW": Hint(
        "lock", "Another process held the record or its parent Account: retried by later runs; if it lasts, "
        "schedule other jobs that update the same Accounts at another time."),
    "DUPLICATES_DETECTED": Hint(
        "duplicate", "A duplicate rule blocked the record: merge the records the message names, or set the rule "
        "to Allow with an alert (Setup > Duplicate Rules)."),
    "INVALID_FIELD_FOR_INSERT_UPDATE": Hint(
        "access", "The integration user cannot write the field: grant Edit in field-level security "
        "(Setup > Object Manager > <object> > Fields > Set Field-Level Security) or unmap it."),
    "INVALID_FIELD": Hint(
        "access", "The field is not visible to the integration user: grant Read/Edit in field-level security "
        "or remove it from the mapping catalog."),
    "INSUFFICIENT_ACCESS_OR_READONLY": Hint(
        "access", "The integration user may not edit this record: give its profile or permission set Edit "
        "on the object, or share the record with it."),
    "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY": Hint(
        "access", "The integration user cannot see a related record (owner, Account, person): share it with "
        "the user or give it View All on that object."),
    "INVALID_CROSS_REFERENCE_KEY": Hint(
        "access", "A referenced record (owner, record type, Account) does not exist or is not available to "
        "the user: check the record type's assignment to the user's profile and the referenced ids."),
    "INACTIVE_OWNER_OR_USER": Hint(
        "access", "The owner is an inactive user: reactivate the user, or set owner_fallback / "
        "fallback_owner_email."),
    "REQUIRED_FIELD_MISSING": Hint(
        "input", "A required field has no value: fill it in Andsend or map a source (or a constant) to it in "
        "the mapping catalog, then run `rejects replay`."),
    "STRING_TOO_LONG": Hint(
        "input", "A value is longer than the field allows: shorten it in Andsend or lengthen the field, then "
        "run `rejects replay`."),
    "INVALID_EMAIL_ADDRESS": Hint("input", "The e-mail address is malformed: correct it in Andsend."),
    "INVALID_TYPE_ON_FIELD_IN_RECORD": Hint(
        "input", "A value does not fit the field's type: correct it in Andsend or map another source."),
    "NUMBER_OUTSIDE_VALID_RANGE": Hint("input", "A number is out of the field's range: correct it in Andsend."),
    "JSON_PARSER_ERROR": Hint("input", "Salesforce could not parse a value: correct it in Andsend."),
    "MALFORMED_ID": Hint("input", "An id value is malformed: check the mapping catalog's constants."),
    "INVALID_VALUE": Hint("input", "A value could not be converted for its field: correct it in Andsend or the "
                          "mapping catalog."),
    "INVALID_INPUT": Hint("input", "The Andsend record lacks what a Salesforce record needs: complete it in "
                          "Andsend; it is sent again when it changes."),
    "INVALID_EMAIL": Hint("input", "The e-mail address is malformed: correct it in Andsend."),
    "MISSING_NAME_AND_EMAIL": Hint("input", "The prospect has neither a name nor an e-mail: complete it in "
                                   "Andsend."),
    "INVALID_RECORD": Hint("input", "The tap sent a RECORD without a record object: check the tap's version."),
    "INVALID_TOUCHPOINT": Hint("input", "The touchpoint lacks its id, prospect or time: check it in Andsend."),
    "INVALID_SEARCH_RESULT": Hint("input", "The search result lacks its id: check it in Andsend."),
    "TOUCHPOINT_ID_CASE_CONFLICT": Hint(
        "input", "Two touchpoint ids differ only in letter case and the Task's external id field is case "
        "insensitive: make Andsend_Touchpoint_Id__c case sensitive."),
    "MISSING_ID_OR_EMAIL": Hint("input", "The Andsend user has no id or e-mail: complete the user in Andsend."),
    "ANDSEND_REFUSED_BADGE": Hint("input", "Andsend refused the badge (see the message): check the search "
                                  "result in Andsend."),
}

_DEFAULT = Hint("other", "Read the message; after fixing its cause in Salesforce or Andsend, run `rejects "
                "replay` for this code.")


def hint_for(code: str | None) -> Hint:
    return HINTS.get(str(code or ""), _DEFAULT)


def retried_automatically(code: str | None) -> bool:
    return hint_for(code).cause in RETRYABLE_CAUSES
