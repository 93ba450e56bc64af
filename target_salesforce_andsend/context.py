"""RunContext: everything one run shares, built once (lazily, on the first batch) by target.py.

Building it connects to Salesforce, describes the objects the catalog needs (fresh each run:
one describe call per object, so fields an admin just created are seen) and fails fast when the
catalog does not fit the org.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import field_access, record_types
from .account_index import AccountIndex
from .addresses import AddressField, address_fields
from .catalog import (
    ACCOUNT_KEY_FIELD,
    CREATED_OBJECTS,
    EXTERNAL_ID_FIELD,
    PROSPECT_IDS_FIELD,
    Catalog,
    CatalogError,
    check_catalog,
    field_index,
    load_catalog,
    raise_for_issues,
)
from .lease import RunLease, lease_name
from .links import LinkStore, open_store
from .matching import Matcher
from .normalize import normalize_email
from .owners import OwnerResolver
from .record_types import RecordTypeChoice
from .report import RejectsFile, RunReport
from .settings import Settings

if TYPE_CHECKING:
    from .salesforce.client import SalesforceClient
    from .salesforce.writer import Writer


class OrgInfo:
    """Describe-derived facts, fetched lazily per object through the client's per-run cache."""

    def __init__(self, client: SalesforceClient):
        self.client = client
        self._index: dict[str, dict[str, dict]] = {}
        self._lock = threading.Lock()
        # object -> the record type its created records get (record_types.py), set at start
        self.record_types: dict[str, RecordTypeChoice] = {}
        self._refused: dict[str, set[str]] = {}
        self._addresses: dict[str, dict[str, AddressField]] = {}
        self.not_writable: dict[str, list[str]] = {}  # object -> the target's own fields found read-only at start

    def describe(self, sobject: str) -> dict:
        return self.client.describe(sobject)

    def _cached(self, cache: dict[str, Any], sobject: str, make: Callable[[], Any]) -> Any:
        # Built outside the lock (a describe may be a call); racing threads build the same value.
        with self._lock:
            cached = cache.get(sobject)
        if cached is None:
            cached = make()
            with self._lock:
                cache[sobject] = cached
        return cached

    def fields(self, sobject: str) -> dict[str, dict]:
        """casefolded field name -> describe field."""
        return self._cached(self._index, sobject, lambda: field_index(self.describe(sobject)))

    def field(self, sobject: str, name: str) -> dict | None:
        return self.fields(sobject).get(name.casefold())

    def field_name(self, sobject: str, name: str) -> str | None:
        desc = self.field(sobject, name)
        return desc["name"] if desc else None

    def has_field(self, sobject: str, name: str) -> bool:
        return self.field(sobject, name) is not None

    def external_id_field(self, sobject: str) -> str | None:
        """`Andsend_Prospect_Id__c` where the org has it (Lead, Contact)."""
        return self.field_name(sobject, EXTERNAL_ID_FIELD) if sobject in ("Lead", "Contact") else None

    def prospect_ids_field(self, sobject: str) -> str | None:
        """`Andsend_Prospect_Ids__c` (every merged prospect id) where the org has it (Lead, Contact)."""
        return self.field_name(sobject, PROSPECT_IDS_FIELD) if sobject in ("Lead", "Contact") else None

    def account_key_field(self) -> str | None:
        """`Andsend_Account_Key__c` (external id holding the normalised company key) on Account."""
        desc = self.field("Account", ACCOUNT_KEY_FIELD)
        return desc["name"] if desc and desc.get("externalId") else None

    def address_fields(self, sobject: str) -> dict[str, AddressField]:
        """State and Country picklists of the object's addresses (empty where the org has none)."""
        return self._cached(self._addresses, sobject, lambda: address_fields(self.fields(sobject)))

    def refuse_fields(self, sobject: str, names: list[str]) -> None:
        """Fields Salesforce refused to write (INVALID_FIELD_FOR_INSERT_UPDATE) although describe
        allowed it: left out of this run's later writes."""
        with self._lock:
            self._refused.setdefault(sobject, set()).update(n.casefold() for n in names)

    def refused_fields(self) -> dict[str, set[str]]:
        with self._lock:
            return {k: set(v) for k, v in self._refused.items()}


@dataclass
class RunContext:
    settings: Settings
    logger: logging.Logger
    client: SalesforceClient
    writer: Writer
    org: OrgInfo
    catalog: Catalog
    report: RunReport
    rejects: RejectsFile
    links: LinkStore
    matcher: Matcher = field(init=False)
    owners: OwnerResolver = field(init=False)
    andsend_user_emails: dict[str, str] = field(default_factory=dict)
    # Person record id (15 chars) -> the prospect that first linked or wrote it this run (prospects.py):
    # a later prospect with the same e-mail only fills empty fields, so reruns never flip values.
    person_sources: dict[str, str] = field(default_factory=dict)
    fallback_owner_id: str | None = None
    progress: Any = None
    # Dry run only (nothing goes to the link store): prospect id -> (Lead/Contact, record id or None
    # for a person the plan would create, Account id or planned Account), so the plan also counts
    # the Tasks of the people it links or creates.
    planned_people: dict[str, tuple[str, str | None, str | None]] = field(default_factory=dict)
    lease: RunLease | None = None
    org_id: str | None = None
    retry: Any = None  # rejects_replay.RetryQueue (None in a dry run): rejected records kept as work
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.matcher = Matcher(self.client, self.org, self.catalog, links=self.links,
                               email_fields=self.settings.match_email_fields or (),
                               account_index=self._account_index)
        self.owners = OwnerResolver(self.client)

    def _account_index(self) -> AccountIndex:
        return AccountIndex(self.client, self.links, self.settings, self.logger, self.report)

    @property
    def object_mode(self) -> str:
        return self.catalog.object_mode

    @property
    def dry_run(self) -> bool:
        return self.settings.dry_run

    def remember_users(self, users: dict[str, str]) -> None:
        """Andsend user id -> email, kept for this run and in the link store for later runs."""
        clean = {str(k): e for k, v in users.items() if k and (e := normalize_email(v))}
        if clean:
            with self._lock:
                self.andsend_user_emails.update(clean)
            if not self.dry_run:
                self.links.put_users(clean)

    def user_email(self, user_id: str | None) -> str | None:
        return self.andsend_user_emails.get(str(user_id)) if user_id else None

    def reject(self, *, role: str, key: str | None, object: str | None, error_code: str, message: str,
               fields: list[str] | None = None, record: dict | None = None, counted_as: str | None = None) -> None:
        """The one way a record is rejected: a line in the rejects file (kept as retryable work by
        its listener), the run's reject total and, with ``counted_as``, the report's
        ``(role, counted_as, "rejected")`` count."""
        if self.rejects.add(role=role, key=key, object=object, error_code=error_code, message=message,
                            fields=fields, record=record):
            self.report.rejected()
        if counted_as is not None:
            self.report.count(role, counted_as, "rejected")

    def check_reject_threshold(self) -> None:
        limit = self.settings.reject_threshold
        if self.rejects.count > limit:
            raise RejectThresholdExceeded(
                f"{self.rejects.count} records were rejected in this run, more than reject_threshold={limit}; "
                f"stopping so the Singer state does not move past them (details in {self.rejects.path})"
            )

    def refresh_api_figures(self) -> None:
        self.report.api_calls = dict(self.client.calls)
        try:
            self.report.quota = self.client.quota.snapshot().as_dict()
        except Exception:  # the figures are informative; never fail a run over them
            self.report.quota = {}


class RejectThresholdExceeded(Exception):
    """More records were rejected than `reject_threshold` allows."""


def objects_needed(catalog: Catalog) -> list[str]:
    """Objects described at start: those the mode creates plus those the catalog maps and the
    matcher reads (Lead and Contact are always looked up by email)."""
    needed = {"Lead", "Contact", *CREATED_OBJECTS[catalog.object_mode], *catalog.objects()}
    return sorted(needed)


def validate_against_org(catalog: Catalog, org: OrgInfo, *, along: Sequence[Mapping[str, Any]] = (),
                         answers: list[dict[str, Any]] | None = None) -> None:
    # Every describe the run may need (Account for badges, Task for activities) in one Composite
    # call rather than one call per object; an object this user cannot describe is only an error
    # where it is really needed. ``along``: reads sent in the same call (client.describe_many).
    org.client.describe_many(sorted({*objects_needed(catalog), "Account", "Task"}), along=along, answers=answers)
    describes = {obj: org.describe(obj) for obj in objects_needed(catalog)}
    issues = check_catalog(catalog, describes)
    if not issues:
        org.record_types, issues = record_types.load(org.client.picklist_values, catalog, describes)
    raise_for_issues(issues)
    # The target's own fields the user cannot write: left out of every write of the run.
    org.not_writable = field_access.unwritable_implicit(catalog, describes)
    for sobject, names in org.not_writable.items():
        org.refuse_fields(sobject, names)


def pipeline_id(settings: Settings) -> str:
    return settings.pipeline_id


def org_identity(client: SalesforceClient) -> str:
    """The org id the target signed in to (from the identity URL); for a bare access_token
    session, which has none, the instance it was issued for."""
    token = client.token
    return token.org_id or f"instance:{token.instance_url}"


def take_lease(settings: Settings, store: LinkStore, org_id: str, logger: logging.Logger) -> RunLease:
    lease = RunLease(store, lease_name(org_id, pipeline_id(settings)),
                     ttl=settings.lease_ttl_seconds, wait=settings.lease_wait_seconds, logger=logger)
    lease.acquire()
    return lease


def note_org_switch(settings: Settings, store: LinkStore, org_id: str, report: RunReport,
                    logger: logging.Logger) -> None:
    """Say so when this pipeline's last run signed in to another org (a refreshed sandbox, a
    switched environment): nothing remembered for that org is used here."""
    if settings.dry_run:
        return
    previous = store.org_switch(pipeline_id(settings))
    section = report.section("org")
    section["org_id"] = org_id
    if previous:
        section["previous_org_id"] = previous
        message = (f"Signed in to Salesforce org {org_id}, but this pipeline's last run wrote to org {previous} "
                   "(a refreshed sandbox or another environment): none of that org's record ids are used; "
                   "people are matched afresh in this org. Records the tap no longer sends (before its "
                   "bookmark) reach this org only with a full refresh of the tap's state.")
        logger.warning(message)
        report.note(message)


def build_run(config: Settings | Mapping[str, Any], logger: logging.Logger, *,
              client: SalesforceClient | None = None) -> RunContext:
    """Connect, describe, validate the catalog and open the run's files. Raises CatalogError or a
    Salesforce error with a clear message when something must be fixed first."""
    from .crm_status import chosen_groups
    from .salesforce.client import SalesforceClient
    from .salesforce.writer import Writer

    settings = Settings.of(config)  # a setting with a wrong value fails here, before anything else
    catalog = load_catalog(settings)  # before any call: a broken catalog needs no network
    try:  # a wrong choice fails now, not after the run's work
        chosen_groups(settings.crm_status_fields)
    except ValueError as exc:
        raise CatalogError(str(exc)) from None
    client = client or SalesforceClient(settings, logger=logger)
    org = OrgInfo(client)
    # Sign in, then every describe in one Composite call; its Sforce-Limit-Info header gives the
    # quota governor the org's daily figures, so /limits is read only if it carried none.
    read_limits = client.connect(read_limits=False) and client.reads_limits_at_start
    paths = settings.paths
    paths.output_dir.mkdir(parents=True, exist_ok=True)
    org_id = org_identity(client)
    store = open_store(settings, paths.links, org_id)
    try:
        # The account index's refresh reads no describe: its first call rides with the describes
        # (used at the index's first use, if any).
        index_call = AccountIndex.first_call(settings, store, client.api_version)
        index_answers: list[dict[str, Any]] = []
        validate_against_org(catalog, org, along=index_call[2] if index_call else (), answers=index_answers)
        if read_limits:
            client.read_limits()
    except BaseException:
        store.close()
        raise
    report = RunReport(dry_run=settings.dry_run, object_mode=catalog.object_mode)
    lease = None
    try:
        if not settings.dry_run:
            lease = take_lease(settings, store, org_id, logger)
            report.section("lease").update(lease.as_report())
        note_org_switch(settings, store, org_id, report, logger)
    except BaseException:
        store.close()
        raise
    run = RunContext(
        settings=settings, logger=logger, client=client, writer=Writer(client, logger=logger), org=org,
        catalog=catalog, report=report, rejects=RejectsFile(paths.rejects, logger), links=store,
        lease=lease, org_id=org_id,
    )
    index = run.matcher.account_index if index_call and index_answers else None
    if index is not None and index_call is not None:
        index.take_first_call(index_call[0], index_call[1], index_answers)
    run.andsend_user_emails.update(run.links.users())
    if not settings.dry_run:
        from .rejects_replay import RetryQueue

        run.retry = RetryQueue(store, settings, logger)
        run.rejects.listener = run.retry.on_reject
    if org.not_writable:
        listed = "; ".join(f"{o}: {', '.join(names)}" for o, names in org.not_writable.items())
        report.section("field_access")["not_writable_at_start"] = org.not_writable
        message = (f"The integration user cannot write these fields, so this run leaves them out: {listed}. "
                   "Grant edit access (Setup → Object Manager → <object> → Fields → <field> → Set Field-Level "
                   "Security) to have them written.")
        logger.warning(message)
        report.note(message)
    if settings.owner_fallback == "user":  # its values are checked by Settings
        email = normalize_email(settings.fallback_owner_email)
        if not email:
            raise CatalogError("owner_fallback is 'user' but fallback_owner_email is missing or not an email address")
        resolver: OwnerResolver = run.owners
        run.fallback_owner_id = resolver.resolve([email]).get(email)
        if not run.fallback_owner_id:
            raise CatalogError(
                f"fallback_owner_email {email} is not an active Salesforce user: activate the user or "
                "choose another owner_fallback"
            )
    return run
