"""The emulator's state: describe registry, store, auth, clock, settings, faults, usage and stats."""

from __future__ import annotations

import copy
import json
import random
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from emulators.salesforce import ids
from emulators.salesforce.auth import Auth
from emulators.salesforce.org_rules import OrgRules
from emulators.salesforce.registry import DescribeRegistry
from emulators.salesforce.store import Store
from emulators.salesforce.validation import (
    RecordError,
    RequestError,
    WriteContext,
    coerce,
    format_datetime,
    parse_datetime,
    validate_create,
)

ORG_RULE_KEYS = ("validation_rules", "record_types", "duplicate_rules", "automation")
RECORD_TYPE_FIELD = {"name": "RecordTypeId", "type": "reference", "referenceTo": ["RecordType"],
                     "relationshipName": "RecordType", "label": "Record Type ID", "custom": False,
                     "filterable": True}
DEFAULT_USER = {"Username": "admin@example.com", "Email": "admin@example.com", "FirstName": "Ada",
                "LastName": "Admin", "Alias": "aadmin", "IsActive": True, "password": "emulator",
                "security_token": "token"}
# Its callback URLs are the ones the README has admins register: `connect`'s (127.0.0.1:8710) and
# the setup page's (127.0.0.1:8719), so a sign-in from another port fails with
# redirect_uri_mismatch, as in a real org.
CONNECT_CALLBACK_URL = "http://127.0.0.1:8710/oauth/callback"
SETUP_CALLBACK_URL = "http://127.0.0.1:8719/oauth/callback"
DEFAULT_APP = {"client_id": "emulator-client-id", "client_secret": "emulator-client-secret",
               "issue_refresh_tokens": True, "redirect_uris": [CONNECT_CALLBACK_URL, SETUP_CALLBACK_URL]}
DEFAULT_DAILY_MAX = 15000
SUPPORTED_VERSIONS = {"58.0": "Summer '23", "59.0": "Winter '24", "60.0": "Spring '24", "61.0": "Summer '24",
                      "62.0": "Winter '25"}


@dataclass
class Faults:
    latency_ms: int = 0
    latency_jitter_ms: int = 0
    error_503_rate: float = 0.0
    lock_row_rate: float = 0.0
    # Share of Composite subrequests answered 503 SERVER_UNAVAILABLE (not applied), the others run.
    subrequest_503_rate: float = 0.0
    revoke_tokens_every: int = 0
    limit_exceeded_after: int = 0
    random_seed: int = 1
    # Milliseconds a Collections call keeps the parents of its records locked after it commits
    # (slow automation): another call's child of such a parent fails UNABLE_TO_LOCK_ROW (parent_locks.py).
    parent_lock_ms: int = 0

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Faults:
        known = {k: body[k] for k in asdict(cls()) if k in body}
        unknown = set(body) - set(known)
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(sorted(unknown))}")
        f = cls(**known)
        for name in ("latency_ms", "latency_jitter_ms", "revoke_tokens_every", "limit_exceeded_after", "random_seed",
                     "parent_lock_ms"):
            if not isinstance(getattr(f, name), int) or getattr(f, name) < 0:
                raise ValueError(f"{name} must be a non-negative integer")
        for name in ("error_503_rate", "lock_row_rate", "subrequest_503_rate"):
            v = getattr(f, name)
            if not isinstance(v, (int, float)) or not 0 <= v <= 1:
                raise ValueError(f"{name} must be between 0 and 1")
        return f


def load_fixture(fixture: dict[str, Any] | str | Path | None) -> dict[str, Any]:
    if fixture is None:
        return {}
    if isinstance(fixture, dict):
        return copy.deepcopy(fixture)
    path = Path(fixture)
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        return yaml.safe_load(text) or {}
    return json.loads(text)


class Emulator:
    """Everything a request handler needs; ``app.state.emulator`` in the Starlette app."""

    def __init__(self, db_path: str = ":memory:", fixture: dict[str, Any] | str | Path | None = None,
                 describe_dir: str | Path | None = None, instance_url: str | None = None) -> None:
        self.fixture = load_fixture(fixture)
        self.describe_dir = describe_dir
        self.instance_url_override = instance_url.rstrip("/") if instance_url else None
        self.registry = DescribeRegistry(describe_dir, self.describe_overrides())
        self.store = Store(db_path, self.registry)
        # Fields an admin added at run time survive a restart of a file database.
        for obj, field in self.store.get_meta("added_fields", []):
            try:
                self.registry.add_field(obj, field)
            except (KeyError, ValueError):
                pass
        self.store.ensure_tables()
        org = self.fixture.get("org") or {}
        self.org_id = ids.to18(org["id"]) if org.get("id") else ids.make_id("00D", 1)
        self._frozen: datetime | None = None
        self.settings: dict[str, Any] = {"query_batch_size": int(org.get("query_batch_size", 2000)),
                                         "bulk_processing_delay_ms": int(org.get("bulk_processing_delay_ms", 0)),
                                         "token_ttl_seconds": int(org.get("token_ttl_seconds", 7200)),
                                         "long_request_seconds": float(org.get("long_request_seconds", 20)),
                                         "long_request_limit": int(org.get("long_request_limit", 25))}
        self._request_starts: dict[int, float] = {}
        self._request_ticket = 0
        self.auth = Auth(self.store, self.org_id, self.epoch, lambda: int(self.settings["token_ttl_seconds"]))
        self.auth.sandbox = bool(org.get("sandbox"))
        self.faults = Faults()
        self.rng = random.Random(1)
        self.fault_lock = threading.Lock()
        self.calls_since_faults = 0
        self.stats_lock = threading.Lock()
        self.by_kind: Counter[str] = Counter()
        # Subrequests of Composite calls by their own kind (not counted calls: the Composite is).
        self.composite_subrequests: Counter[str] = Counter()
        self.by_method: Counter[str] = Counter()
        self.by_resource: Counter[str] = Counter()
        self.api_requests = 0
        self.busy_seconds = 0.0  # sum of request durations (control plane excluded)
        # Time with at least one request in flight: busy / active is how many round trips a client
        # keeps going at once while it waits on Salesforce (its own CPU time left out).
        self.active_seconds = 0.0
        self._in_flight = 0
        self._active_since = 0.0
        self._first_started: float | None = None
        self._last_ended: float | None = None
        self.written_base = 0
        self.org_rules = OrgRules()  # validation rules, record types, duplicate rules, automation
        self.org_rules.state_country = bool((self.fixture.get("org") or {}).get("state_country_picklists"))
        self.assignment_rules: dict[str, str] = {}
        self.default_user_id = ""
        self.query_cursors: Any = None  # set by query module
        self.bulk: Any = None  # set by bulk module
        self.bulk_v1: Any = None  # Bulk API 1.0 query jobs (bulk_query_v1.py)
        self.bulk_query: Any = None  # Bulk API 2.0 query jobs (bulk_query.py)
        self.fixture_loaded = self.store.get_meta("initialized") is None
        if self.fixture_loaded:
            self._seed_initial()
            self.store.set_meta("initialized", True)
        else:
            self.org_rules = OrgRules.from_fixture(self.store.get_meta("org_rules", {}), self._record_type_id)
            self.org_rules.state_country = bool(org.get("state_country_picklists"))
            self.assignment_rules = self.store.get_meta("assignment_rules", {})
            self.default_user_id = self.store.get_meta("default_user_id", "")
        self.written_base = self.store.records_written  # fixture rows are not "written" by clients
        self.daily_max = int(self.store.get_meta("daily_api_max", org.get("daily_api_max", DEFAULT_DAILY_MAX)))
        self.daily_used = int(self.store.get_meta("daily_api_used", org.get("daily_api_used", 0)))
        self._usage_lock = threading.Lock()

    # ---- clock ----------------------------------------------------------------------------------
    def now(self) -> datetime:
        return self._frozen or datetime.now(timezone.utc)

    def now_text(self) -> str:
        return format_datetime(self.now())

    def epoch(self) -> float:
        return self._frozen.timestamp() if self._frozen else time.time()

    def set_clock(self, value: str | None) -> None:
        if value is None:
            self._frozen = None
            return
        text = parse_datetime(value) if isinstance(value, str) else None
        if text is None:
            raise ValueError("now must be an ISO 8601 datetime or null")
        self._frozen = datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)

    # ---- instance -------------------------------------------------------------------------------
    def instance_url(self, request_base: str) -> str:
        return self.instance_url_override or request_base.rstrip("/")

    # ---- usage / stats --------------------------------------------------------------------------
    def count_call(self, kind: str, method: str, resource: str, *, api: bool) -> None:
        with self.stats_lock:
            self.by_kind[kind] += 1
            self.by_method[method] += 1
            self.by_resource[resource] += 1
            if api:
                self.api_requests += 1
        if api:
            with self._usage_lock:
                self.daily_used += 1
                used = self.daily_used
            if used % 50 == 0:
                self.persist_usage()

    # ---- concurrent long-running requests --------------------------------------------------------
    def long_request_start(self) -> int:
        with self.stats_lock:
            self._request_ticket += 1
            self._request_starts[self._request_ticket] = time.monotonic()
            return self._request_ticket

    def long_request_end(self, ticket: int) -> None:
        with self.stats_lock:
            self._request_starts.pop(ticket, None)

    def long_requests_over_limit(self) -> bool:
        threshold = float(self.settings["long_request_seconds"])
        now = time.monotonic()
        with self.stats_lock:
            running = sum(1 for t in self._request_starts.values() if now - t >= threshold)
        return running >= int(self.settings["long_request_limit"])

    def count_subrequest(self, kind: str) -> None:
        with self.stats_lock:
            self.composite_subrequests[kind] += 1

    def note_request_start(self, started: float) -> None:
        with self.stats_lock:
            if self._in_flight == 0:
                self._active_since = started
            self._in_flight += 1

    def note_request_time(self, started: float, ended: float) -> None:
        """One request's duration (``time.perf_counter`` values), for busy/active/span seconds;
        ``note_request_start`` was called with ``started``."""
        with self.stats_lock:
            self.busy_seconds += ended - started
            self._in_flight = max(0, self._in_flight - 1)
            if self._in_flight == 0:
                self.active_seconds += ended - self._active_since
            if self._first_started is None or started < self._first_started:
                self._first_started = started
            if self._last_ended is None or ended > self._last_ended:
                self._last_ended = ended

    def persist_usage(self) -> None:
        self.store.set_meta("daily_api_used", self.daily_used)
        self.store.set_meta("daily_api_max", self.daily_max)

    def limit_header(self) -> str:
        return f"api-usage={self.daily_used}/{self.daily_max}"

    def stats(self) -> dict[str, Any]:
        with self.stats_lock:
            return {"api_requests": self.api_requests, "by_kind": dict(self.by_kind),
                    "composite_subrequests": dict(self.composite_subrequests),
                    "by_method": dict(self.by_method), "by_resource": dict(self.by_resource),
                    "records_written": self.store.records_written - self.written_base,
                    "daily_api_used": self.daily_used, "daily_api_max": self.daily_max,
                    "busy_seconds": round(self.busy_seconds, 6),
                    "active_seconds": round(self.active_seconds, 6),
                    "span_seconds": round((self._last_ended or 0.0) - (self._first_started or 0.0), 6)}

    def reset_stats(self) -> None:
        with self.stats_lock:
            self.by_kind.clear()
            self.composite_subrequests.clear()
            self.by_method.clear()
            self.by_resource.clear()
            self.api_requests = 0
            self.busy_seconds = 0.0
            self.active_seconds = 0.0
            self._first_started = self._last_ended = None
            self.written_base = self.store.records_written

    # ---- faults ---------------------------------------------------------------------------------
    def set_faults(self, faults: Faults) -> None:
        from emulators.salesforce.parent_locks import ParentLocks

        with self.fault_lock:
            self.parent_locks = ParentLocks()
            self.faults = faults
            self.rng = random.Random(faults.random_seed)
            self.calls_since_faults = 0

    def roll(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self.fault_lock:
            return self.rng.random() < rate

    def lock_fault(self) -> bool:
        return self.roll(self.faults.lock_row_rate)

    # ---- writes ---------------------------------------------------------------------------------
    def write_context(self, user_id: str, *, api_version: str = "60.0", allow_save: bool = False,
                      auto_assign: bool = True) -> WriteContext:
        return WriteContext(self.store, user_id, self.now_text(), api_version, allow_save,
                            assignment=self.assignment_rules, auto_assign=auto_assign, org=self.org_rules)

    @property
    def sandbox(self) -> bool:
        return bool((self.fixture.get("org") or {}).get("sandbox"))

    def describe_overrides(self) -> dict[str, Any]:
        """The fixture's describe changes plus the org options that change describes (field-level
        security, State and Country/Territory Picklists)."""
        org = self.fixture.get("org") or {}
        return {**(self.fixture.get("describe") or {}), "field_security": self.fixture.get("field_security") or {},
                "state_country_picklists": bool(org.get("state_country_picklists"))}

    def _record_type_id(self) -> str:
        return self.store.new_id("012")

    # ---- fixtures -------------------------------------------------------------------------------
    def _seed_initial(self) -> None:
        fixture = self.fixture
        users = list(fixture.get("users") or [])
        if not any((u.get("Username") or "").lower() == DEFAULT_USER["Username"] for u in users):
            users.insert(0, dict(DEFAULT_USER, _ref="__admin__"))
        apps = list(fixture.get("apps") or [])
        if not any(a.get("client_id") == DEFAULT_APP["client_id"] for a in apps):
            apps.insert(0, dict(DEFAULT_APP))
        org = fixture.get("org") or {}
        self.store.set_meta("daily_api_max", int(org.get("daily_api_max", DEFAULT_DAILY_MAX)))
        self.store.set_meta("daily_api_used", int(org.get("daily_api_used", 0)))
        self.org_rules = OrgRules(state_country=bool(org.get("state_country_picklists")))
        refs = self.seed({**fixture, "users": users, "apps": apps, "describe": None}, initial=True)
        admin = refs.get("__admin__") or self.store.find("User", "Username", DEFAULT_USER["Username"], nocase=True)[0]
        self.default_user_id = admin
        self.store.set_meta("default_user_id", admin)

    def seed(self, fixture: dict[str, Any], *, initial: bool = False) -> dict[str, str]:
        """Add a fixture's users, apps, rules and records; returns {ref: id}. Raises ValueError."""
        if not isinstance(fixture, dict):
            raise ValueError("a fixture is a JSON object")
        describe = fixture.get("describe") or {}
        if describe and not initial:
            for obj, fields in (describe.get("add_fields") or {}).items():
                for f in fields:
                    self.add_field(obj, f)
        refs: dict[str, str] = {}
        pending: list[tuple[str, dict[str, Any], str]] = []
        if any(fixture.get(k) for k in ORG_RULE_KEYS):  # before the records: they get record types
            self.org_rules.extend(fixture, self._record_type_id)
            self.store.set_meta("org_rules", self.org_rules.as_fixture())
            for obj in self.org_rules.record_types:
                schema = self.registry.get(obj)
                if schema is None:
                    raise ValueError(f"record types for unknown object {obj}")
                if schema.field("RecordTypeId") is None:
                    self.add_field(schema.name, RECORD_TYPE_FIELD)
        with self.store.transaction():
            for user in fixture.get("users") or []:
                uid = self.store.new_id("005")
                if user.get("_ref"):
                    refs[user["_ref"]] = uid
                pending.append(("User", user, uid))
            records = fixture.get("records") or {}
            if not isinstance(records, dict):
                raise ValueError("records must map object names to lists")
            order = sorted(records, key=lambda o: ["account", "contact", "lead", "task"].index(o.lower())
                           if o.lower() in ("account", "contact", "lead", "task") else 9)
            for obj in order:
                schema = self.registry.get(obj)
                if schema is None:
                    raise ValueError(f"unknown object in fixture: {obj}")
                for rec in records[obj]:
                    rid = self.store.new_id(schema.key_prefix)
                    if rec.get("_ref"):
                        refs[rec["_ref"]] = rid
                    pending.append((schema.name, rec, rid))
            # Users first (owners), then records in dependency order; "@ref" may point anywhere.
            ctx = self.write_context((self.default_user_id or pending[0][2]) if pending else "")
            ctx.system = True
            for obj, rec, rid in pending:
                schema = self.registry.get(obj)
                assert schema is not None
                raw = {}
                for k, v in rec.items():
                    if k in ("_ref", "password", "security_token"):
                        continue
                    if isinstance(v, str) and v.startswith("@"):
                        if v[1:] not in refs:
                            raise ValueError(f"unknown reference {v}")
                        v = refs[v[1:]]
                    raw[k] = v
                if obj == "User" and self.sandbox and raw.get("Email") and rec.get("_ref") != "__admin__" \
                        and not str(raw["Email"]).endswith(".invalid"):
                    # A sandbox copy appends .invalid to every user's email but its creator's.
                    raw["Email"] = f"{raw['Email']}.invalid"
                try:
                    values = coerce(schema, raw)
                    if obj == "User":
                        values.setdefault("IsActive", 1)
                        ctx.user_id = ctx.user_id or rid
                    row = validate_create(ctx, schema, values, system=True)
                except (RequestError, RecordError) as exc:
                    raise ValueError(f"invalid fixture record {obj} {rec.get('_ref', '')}: {exc}") from None
                if obj == "User":
                    row.setdefault("CreatedById", rid)
                    for k in ("CreatedById", "LastModifiedById"):
                        row[k] = row.get(k) or rid
                row["Id"] = rid
                self.store.insert(obj, row)
                if obj == "User" and (rec.get("password") is not None):
                    self.auth.set_credentials(rid, rec.get("password"), rec.get("security_token"))
            for app in fixture.get("apps") or []:
                if not app.get("client_id"):
                    raise ValueError("an app needs a client_id")
                self.auth.set_app(app)
            for rule in fixture.get("assignment_rules") or []:
                schema = self.registry.get(str(rule.get("object", "")))
                owner = str(rule.get("owner", ""))
                owner = refs.get(owner[1:], "") if owner.startswith("@") else (ids.normalize(owner) or "")
                if schema is None or not owner.startswith("005"):
                    raise ValueError(f"an assignment rule needs a known object and an owner user: {rule}")
                self.assignment_rules = {**self.assignment_rules, schema.name: owner}
                self.store.set_meta("assignment_rules", self.assignment_rules)

        return refs

    def convert_lead(self, lead_id: str, *, account_id: str | None = None,
                     converted_status: str = "Closed - Converted") -> dict[str, str]:
        """What Salesforce's lead conversion does (SOAP ``convertLead``, the Convert button): an Account
        (unless ``account_id``) and a Contact from the Lead's standard fields, owned by its owner;
        the Lead becomes read-only with IsConverted, ConvertedContactId/AccountId, ConvertedDate
        and the converted Status, and a new SystemModstamp. Raises ValueError."""
        lead_schema, contact_schema, account_schema = (self.registry.get(o) for o in ("Lead", "Contact", "Account"))
        assert lead_schema and contact_schema and account_schema
        rid = ids.normalize(lead_id) or ""
        with self.store.transaction():
            lead = self.store.get("Lead", rid)
            if lead is None or lead.get("IsDeleted"):
                raise ValueError(f"no Lead {lead_id}")
            if lead.get("IsConverted"):
                raise ValueError(f"Lead {lead_id} is already converted")
            ctx = self.write_context(self.default_user_id)
            ctx.system = True
            owner = lead.get("OwnerId") or self.default_user_id
            if account_id:
                account = ids.normalize(account_id) or ""
                if self.store.get("Account", account) is None:
                    raise ValueError(f"no Account {account_id}")
            else:
                account = self.store.new_id(account_schema.key_prefix)
                row = validate_create(ctx, account_schema, coerce(account_schema, {
                    "Name": lead.get("Company") or lead.get("LastName"), "OwnerId": owner}), system=True)
                row["Id"] = account
                self.store.insert("Account", row)
            contact = self.store.new_id(contact_schema.key_prefix)
            kept = ("FirstName", "LastName", "Email", "Title", "Phone", "MobilePhone", "LeadSource",
                    "HasOptedOutOfEmail", "DoNotCall", "Description")
            carried = {k: bool(lead[k]) if contact_schema.fields[k]["type"] == "boolean" else lead[k]
                       for k in kept if k in contact_schema.fields and lead.get(k) is not None}
            row = validate_create(ctx, contact_schema, coerce(contact_schema, {
                **carried, "AccountId": account, "OwnerId": owner}), system=True)
            row["Id"] = contact
            self.store.insert("Contact", row)
            now = ctx.now
            self.store.update("Lead", rid, {k: v for k, v in {
                "IsConverted": 1, "ConvertedContactId": contact, "ConvertedAccountId": account,
                "ConvertedDate": now[:10], "Status": converted_status, "LastModifiedDate": now,
                "SystemModstamp": now, "LastModifiedById": ctx.user_id}.items() if k in lead_schema.fields})
        return {"lead_id": rid, "contact_id": contact, "account_id": account}

    def add_field(self, obj: str, field: dict[str, Any]) -> dict[str, Any]:
        full = self.registry.add_field(obj, field)
        schema = self.registry.get(obj)
        assert schema is not None
        with self.store.lock:
            self.store.ensure_table(schema)
            added = self.store.get_meta("added_fields", [])
            added.append([schema.name, field])
            self.store.set_meta("added_fields", added)
        return full

    def reset(self) -> None:
        """Data back to the loaded fixture; faults and stats cleared; issued tokens stay valid."""
        with self.store.lock:
            self.registry.load(self.describe_overrides())
            self.store.set_meta("added_fields", [])
            self.store.ensure_tables()
            self.store.wipe()
            self.store.reset_counters()
            self.auth.clear_config()
            self.store.set_meta("org_rules", {})
            self.store.set_meta("assignment_rules", {})
            self.assignment_rules = {}
            self._seed_initial()
        self.daily_max = int(self.store.get_meta("daily_api_max", DEFAULT_DAILY_MAX))
        self.daily_used = int(self.store.get_meta("daily_api_used", 0))
        self.set_faults(Faults())
        self.reset_stats()
        if self.query_cursors is not None:
            self.query_cursors.clear()
        if self.bulk is not None:
            self.bulk.clear()
        if self.bulk_v1 is not None:
            self.bulk_v1.clear()
        if self.bulk_query is not None:
            self.bulk_query.clear()
