"""TargetSalesforceAndsend: the Singer target frame.

* Streams are routed by role (`stream_roles`: stream name -> prospects | touchpoints |
  search_results | users | ignore; default: the stream name is the role, and tap-andsend's
  `campaigns` stream is `ignore`: counted as skipped in the report, nothing written).
* Prospects (and users) are drained before touchpoints and search results, because Tasks and
  badges need their people: every drain puts those sinks first, and a touchpoints/search_results
  sink that fills up drains the prospects buffered so far before itself.
* stdout carries STATE only (and none at all on a dry run, which writes nothing to move past).
* The RunContext is built on the first batch that needs Salesforce; the run report is written at
  the end of input and whenever a batch fails.
* What a role does with a batch is its handler's (roles.py); batches run in the background on the
  handler's lane (batch_worker.py). Every STATE message and the end of input first wait for all
  batches handed over. Threads, lanes and ordering: docs/DESIGN.md, "Concurrency model".
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from contextlib import ExitStack, nullcontext
from datetime import datetime, timezone
from typing import Any

from singer_sdk import typing as th
from singer_sdk.sinks import Sink
from singer_sdk.target_base import Target

from . import crm_status_sync, rejects_replay
from .batch_worker import BatchWorker, PreparedBatch
from .context import RunContext, build_run
from .links import open_store
from .matching import DEFAULT_ORDER as MATCH_STEPS
from .memory import release_free_memory
from .progress import Progress
from .report import RunReport
from .roles import LANES, IgnoreRole, LocalRole, RoleHandler, SalesforceRole, role_handlers
from .salesforce.redact import install_for_plugin
from .settings import Settings
from .sinks import SINKS_BY_ROLE
from .state_holdback import hold_back

ROLES = tuple(SINKS_BY_ROLE)
# Streams of tap-andsend that carry nothing for Salesforce; a plain `tap-andsend | target` pipe works.
DEFAULT_STREAM_ROLES = {"campaigns": "ignore"}
FIRST_ROLES = ("users", "prospects")  # drained before the roles that need their people


def _setting(name: str, kind: Any, description: str, **kw: Any) -> th.Property:
    return th.Property(name, kind, description=description, **kw)


CONFIG_SCHEMA = th.PropertiesList(
    # -- connection (read by salesforce/auth.py) --
    _setting("auth_flow", th.StringType, "How to sign in to Salesforce: auto (chosen from what is set), "
             "refresh_token, jwt, password, client_credentials or access_token.",
             allowed_values=["auto", "refresh_token", "jwt", "password", "client_credentials", "access_token"],
             default="auto"),
    _setting("client_id", th.StringType, "Connected app consumer key."),
    _setting("client_secret", th.StringType, "Connected app consumer secret.", secret=True),
    _setting("refresh_token", th.StringType, "OAuth refresh token (from `target-salesforce-andsend connect`).",
             secret=True),
    _setting("username", th.StringType, "Salesforce username (password and JWT flows)."),
    _setting("password", th.StringType, "Salesforce password (password flow).", secret=True),
    _setting("security_token", th.StringType, "Salesforce security token appended to the password.", secret=True),
    _setting("private_key", th.StringType, "PEM private key for the JWT bearer flow.", secret=True),
    _setting("private_key_path", th.StringType, "Path to the PEM private key for the JWT bearer flow."),
    _setting("jwt_audience", th.StringType, "JWT bearer audience override (default: login or test.salesforce.com)."),
    _setting("access_token", th.StringType, "A ready session token (access_token flow; cannot be renewed).",
             secret=True),
    _setting("instance_url", th.StringType, "Instance URL, e.g. https://acme.my.salesforce.com "
             "(needed with access_token)."),
    _setting("domain", th.StringType, "login (production), test (sandbox) or a My Domain host such as "
             "acme.my.salesforce.com.", default="login"),
    _setting("login_url", th.StringType, "Explicit login base URL (e.g. the emulator's); wins over domain."),
    _setting("api_version", th.StringType, "Salesforce REST API version.", default="60.0"),
    _setting("request_timeout", th.NumberType, "Seconds before a Salesforce request times out.", default=120),
    # -- behaviour --
    _setting("mapping_catalog", th.StringType, "Path to a field-mapping catalog (YAML or JSON, "
             "schemas/mapping-catalog.schema.json)."),
    _setting("mapping_catalog_inline", th.ObjectType(additional_properties=True),
             "The field-mapping catalog as an object (wins over mapping_catalog)."),
    _setting("object_mode", th.StringType, "lead: prospects become Leads; contact_account: Contacts under "
             "Accounts. Overrides the catalog's object_mode.", allowed_values=["lead", "contact_account"]),
    _setting("sync_prospects", th.BooleanType, "Sync purchased prospects (switch a).", default=True),
    _setting("sync_activities", th.BooleanType, "Sync sent emails and LinkedIn touchpoints as completed Tasks "
             "(switch b).", default=True),
    _setting("include_message_content", th.BooleanType, "Include message contents in those Tasks (switch c).",
             default=True),
    _setting("match_order", th.ArrayType(th.StringType(allowed_values=list(MATCH_STEPS))),
             "Matching steps in order, from external_id, contact_email, lead_email, account_domain, "
             "account_name (a matched converted Lead is always followed to its Contact)."),
    _setting("owner_fallback", th.StringType, "When no active Salesforce User has the purchasing user's "
             "email: assignment_rules (Sforce-Auto-Assign TRUE), integration_user (the API user keeps the "
             "record) or user (fallback_owner_email).",
             allowed_values=["assignment_rules", "integration_user", "user"], default="assignment_rules"),
    _setting("fallback_owner_email", th.StringType, "Email of the Salesforce User owning records when "
             "owner_fallback is user."),
    _setting("stream_roles", th.ObjectType(additional_properties=th.StringType),
             "Stream name -> role (prospects, touchpoints, search_results, users, ignore); default: the "
             "stream name is its role, and `campaigns` is `ignore` (counted as skipped, not written)."),
    _setting("validate_records", th.BooleanType, "Also run the Singer SDK's JSON-schema check on every record "
             "(it only logs: the target checks each record itself and sends bad ones to the rejects file with a "
             "reason). Off by default: it would take more than half of the target's CPU.", default=False),
    _setting("dry_run", th.BooleanType, "Plan everything with reads only; write the plan to the report and "
             "emit no STATE.", default=False),
    # -- quota and writes --
    _setting("quota_max_daily_percent", th.IntegerType, "Stop when the org's daily API usage would pass this "
             "percentage of its allocation.", default=80),
    _setting("quota_max_calls_per_run", th.IntegerType, "Stop when this run's API calls would pass this "
             "number (0 = no cap).", default=0),
    _setting("max_concurrency", th.IntegerType, "Salesforce calls in flight at once (a write's 200-record "
             "chunks, a lookup's IN statements).", default=8),
    _setting("bulk_threshold", th.IntegerType, "Records of one object in one batch at or above which Bulk "
             "API 2.0 is used (below it, sObject Collections calls in parallel finish sooner).", default=10000),
    _setting("max_retries", th.IntegerType, "Retries of a failed call or locked record.", default=5),
    _setting("retry_backoff_seconds", th.NumberType, "Base of the exponential backoff between retries.",
             default=1.0),
    _setting("bulk_poll_seconds", th.NumberType, "Seconds between Bulk API 2.0 job status polls."),
    _setting("bulk_timeout_seconds", th.NumberType, "Give up waiting for a Bulk API 2.0 job after this long."),
    # -- files --
    _setting("output_dir", th.StringType, "Directory for report.json, rejects.jsonl, badges.jsonl and the "
             "link store.", default="./output"),
    _setting("rejects_path", th.StringType, "Rejects file (JSON lines); default <output_dir>/rejects.jsonl."),
    _setting("report_path", th.StringType, "Run report (JSON); default <output_dir>/report.json."),
    _setting("badges_path", th.StringType, "Badges file (JSON lines); default <output_dir>/badges.jsonl."),
    _setting("reject_threshold", th.IntegerType, "Rejected records allowed per run; above it the run fails so "
             "state does not move past them.", default=100),
    _setting("andsend_api_url", th.StringType, "Andsend API base URL, for writing badges back."),
    _setting("andsend_api_key", th.StringType, "Andsend API key, for writing badges back.", secret=True),
    # -- CRM status flowing back (crm_status_sync.py) --
    _setting("sync_crm_status", th.BooleanType, "At the end of each run, read owner, Lead status, conversion and "
             "do-not-contact flags of the Salesforce records linked to Andsend prospects (only what changed "
             "since the last run) and write them back to Andsend and to crm_status_path.", default=True),
    _setting("crm_status_fields", th.ArrayType(th.StringType), "What flows back, from record_url, owner, "
             "lead_status, conversion, email_opt_out, do_not_call, custom_do_not_contact, last_modified "
             "(default: all)."),
    _setting("crm_status_path", th.StringType, "CRM status file (JSON lines, the last status delivered per "
             "prospect); default <output_dir>/crm_status.jsonl."),
    _setting("crm_status_lookback_seconds", th.IntegerType, "Also re-read records changed this many seconds "
             "before the last run's newest change (a transaction committed late); statuses that did not change "
             "are not sent again.", default=60),
    # -- matching --
    _setting("match_email_fields", th.ArrayType(th.StringType), "More e-mail fields of Contact and Lead a "
             "person is matched on after Email, in this order (e.g. Work_Email__c, npe01__AlternateEmail__c, "
             "npe01__WorkEmail__c); fields an object lacks are skipped for it."),
    _setting("account_index", th.StringType, "Account index in the link store, for Account matching (contact_account "
             "prospects, search-result badges): the org's "
             "Accounts by name key and website domain, so a company typed without its Account's diacritics or "
             "script (Bjork / Björk, Romashka / Ромашка) is found without LIKE scans. Filled once by a full read "
             "(auto: paged queries or a Bulk API 2.0 query job, whichever costs fewer calls; query; bulk), then "
             "refreshed by SystemModstamp (usually one call a run); off: name IN lookups only.",
             allowed_values=["auto", "query", "bulk", "off"], default="auto"),
    # -- messy orgs: duplicate rules (duplicates.py) --
    _setting("duplicate_rule_action", th.ObjectType(*(
        th.Property(obj, th.StringType(allowed_values=["link", "allow_save", "reject"]),
                    description=f"link, allow_save or reject for {obj} creates (default link).")
        for obj in ("Lead", "Contact", "Account"))), "Per object (Lead, Contact, Account), what a create refused by a "
             "Salesforce duplicate rule becomes: link (default: linked to the record the rule names, reported as "
             "a match), allow_save (sent again with the DuplicateRuleHeader allowSave; a blocking rule's match is "
             "linked) or reject (rejects file)."),
    # -- run safety: state store, run lease, parked work, token rotation --
    _setting("state_store_url", th.StringType, "Where links, users, parked work and the run lease live: "
             "postgresql://user:password@host/db (runners that start clean, several hosts; extra [postgres]) or "
             "empty for <output_dir>/links.sqlite.", secret=True),
    _setting("pipeline_id", th.StringType, "Name of this pipeline in the run lease (one writer per Salesforce "
             "org and pipeline).", default="default"),
    _setting("lease_wait_seconds", th.NumberType, "How long a run waits for another run writing to the same org "
             "and pipeline to finish before it exits non-zero without writing.", default=300),
    _setting("lease_ttl_seconds", th.NumberType, "Seconds after its last heartbeat that a run's lease expires "
             "(a killed run's lease is free after this).", default=60),
    _setting("parked_max_days", th.NumberType, "Days a touchpoint may wait for its person before the Singer "
             "state stops being held back for it (it stays parked and is still retried).", default=30),
    _setting("refresh_token_file", th.StringType, "File holding the refresh token (wins over refresh_token); "
             "a token Salesforce rotates is written back to it. Under Meltano the project's .env is updated "
             "instead."),
    # -- rejects kept as retryable work (rejects_replay.py) --
    _setting("rejects_retry", th.BooleanType, "Later runs retry rejected records whose cause an org change can "
             "clear (validation rule, automation, access, lock, blocking duplicate rule), with back-off; bad input "
             "waits for `rejects replay`.", default=True),
    _setting("rejects_retry_backoff_minutes", th.NumberType, "Wait before the first retry of a rejected record; "
             "doubles with each attempt, at most 7 days.", default=60),
    _setting("rejects_retry_max_attempts", th.IntegerType, "Attempts after which a rejected record is retried "
             "only on `rejects replay`.", default=8),
).to_dict()


ENV_PREFIX = "TARGET_SALESFORCE_ANDSEND_"


class SingerInputError(ValueError):
    """Input the target cannot take (the run stops before anything is written; one ERROR line)."""


class TargetSalesforceAndsend(Target):
    """Singer target writing Andsend prospects, activities and CRM badges to Salesforce."""

    name = "target-salesforce-andsend"
    # The distribution that carries this target (--version, --about).
    package_name = "andsend-salesforce-connectors"
    config_jsonschema = CONFIG_SCHEMA

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._run: RunContext | None = None
        self._run_lock = threading.RLock()
        self._handlers = role_handlers()
        self._early_records = 0  # records handled before the run connected (for the progress line)
        self._finished = False
        self._failed: BaseException | None = None
        handlers = self._handlers
        self._batches = BatchWorker(self.process_role_batch,
                                    lane_of=lambda role, _records: handlers[role].lane.name,
                                    waits_for={lane.name: lane.waits_for for lane in LANES},
                                    workers={lane.name: lane.workers for lane in LANES},
                                    turn_of=lambda role, _records: handlers[role].turn)
        # Before the SDK validates (and may quote) the config: no secret in any log line.
        install_for_plugin(kwargs.get("config"), env_prefix=ENV_PREFIX)
        super().__init__(*args, **kwargs)
        self.settings = Settings.from_config(self.config)  # the validated config, typed, read once

    # -- routing --------------------------------------------------------------------------

    def role_for(self, stream_name: str) -> str:
        roles = {**DEFAULT_STREAM_ROLES, **(self.settings.stream_roles or {})}
        role = roles.get(stream_name, stream_name)
        if role not in SINKS_BY_ROLE:
            raise ValueError(
                f"Stream '{stream_name}' has no role: map it in stream_roles to one of {', '.join(ROLES)}"
            )
        return role

    def get_sink_class(self, stream_name: str) -> type[Sink]:
        return SINKS_BY_ROLE[self.role_for(stream_name)]

    # -- Singer messages the SDK would pass over silently ------------------------------------

    def _process_record_message(self, message_dict: dict) -> None:
        record = message_dict.get("record", {})
        if "stream" in message_dict and not isinstance(record, dict):
            # `"record": null` (or a list, a string): nothing to sync, but never silently dropped.
            stream = message_dict["stream"]
            if stream not in self.mapper.stream_maps:
                self._assert_sink_exists(stream)  # RECORD before SCHEMA stays fatal
            role = self.role_for(stream)
            handler = self._handlers[role]
            if isinstance(handler, IgnoreRole):
                handler.skip(1)
                return
            self.run.reject(role=role, key=None, object=None, error_code="INVALID_RECORD",
                            message=f"RECORD message of stream '{stream}' carries no record object "
                                    f"(record is {json.dumps(record)[:40]})", record=None)
            return
        super()._process_record_message(message_dict)

    def _process_batch_message(self, message_dict: dict) -> None:
        # The target does not declare the `batch` capability: a BATCH message is refused before
        # anything is read from its files, rather than half-supported.
        raise SingerInputError(
            f"BATCH message for stream '{message_dict.get('stream')}': target-salesforce-andsend reads RECORD "
            "messages only (it does not declare the batch capability); run the tap without batch_config"
        )

    # -- the run --------------------------------------------------------------------------

    @property
    def run(self) -> RunContext:
        with self._run_lock:
            if self._run is None:
                self.logger.info("Connecting to Salesforce and checking the mapping catalog against the org...")
                run = build_run(self.settings, self.logger)
                run.progress = Progress(self.logger, api_figures=lambda: self._api_figures(run))
                run.progress.records = self._early_records
                for handler in self._handlers.values():
                    handler.connected(run)
                self._run = run
            return self._run

    @property
    def connected(self) -> RunContext | None:
        """The run if it is connected (roles.RunAccess); waits for a connection under way."""
        with self._run_lock:
            return self._run

    @staticmethod
    def _api_figures(run: RunContext) -> dict[str, Any]:
        try:
            snap = run.client.quota.snapshot().as_dict()
        except Exception:
            snap = {}
        return {"calls": sum(run.client.calls.values()), **snap}

    def submit_role_batch(self, role: str, records: list[dict]) -> None:
        """Hand a sink's batch to the worker (raises the failure of an earlier batch)."""
        self._batches.submit(role, records)

    def process_role_batch(self, role: str, records: list[dict]) -> PreparedBatch:
        """Prepare one batch with its role's handler; the returned batch's commit (run by the batch
        worker in the batch's turn) also counts the records in the progress line."""
        handler: RoleHandler = self._handlers[role]
        n = len(records)
        if isinstance(handler, LocalRole):
            local = handler.prepare(self, records)

            def commit_local() -> None:
                local.commit()
                self._progress(n)

            return PreparedBatch(commit_local)
        assert isinstance(handler, SalesforceRole)
        batch = ExitStack()  # the retry queue's hold on the records, until the commit is over
        try:
            run = self.run
            if run.lease is not None:
                run.lease.check()  # a run whose lease was taken over stops before writing more
            raw = records
            records = handler.decode(raw)
            # The retry queue keeps each record as sent (packed, where the sink packed it) until its
            # batch's outcome is stored.
            packed = raw if raw is not records else None
            batch.enter_context(run.retry.batch(role, records, packed=packed) if run.retry is not None
                                else nullcontext())
            if packed is not None:
                raw.clear()  # the batch worker still holds this list: only the retry queue keeps them
            del raw, packed
            prepared = handler.prepare(run, records)
        except BaseException as exc:
            self._fail(exc, batch)
            raise

        def commit() -> None:
            try:
                with batch:
                    prepared.commit()
                self._progress(n)
                release_free_memory()
            except BaseException as exc:
                self._fail(exc, batch)
                raise

        return PreparedBatch(commit)

    def _fail(self, exc: BaseException, batch: ExitStack) -> None:
        # The retry queue's hold ends with the failure: the batch's outcome is not stored.
        batch.__exit__(type(exc), exc, exc.__traceback__)
        self._batches.note_failure(exc)  # no other lane starts a batch while the report is written
        self._failed = exc
        self.finish_run(error=exc)

    def _process_now(self, role: str, records: list[dict]) -> None:
        """One batch prepared and committed on the calling thread (rejects replayed at the end)."""
        self.process_role_batch(role, records).commit()

    def _progress(self, n: int) -> None:
        """Every record of every stream counts in the progress line, not only prospects."""
        with self._run_lock:
            run = self._run
            if run is None:  # users and ignored streams may come before the run connects
                self._early_records += n
                return
        if run.progress is not None:
            run.progress.add(n)

    # -- drain order ----------------------------------------------------------------------

    def _sink_role(self, sink: Sink) -> str:
        return getattr(sink, "role", "") or ""

    def _drain_all(self, sink_list: Iterable[Sink], parallelism: int) -> None:
        sinks = list(sink_list)
        first = [s for s in sinks if self._sink_role(s) in FIRST_ROLES]
        first.sort(key=lambda s: FIRST_ROLES.index(self._sink_role(s)))
        rest = [s for s in sinks if s not in first]
        super()._drain_all(first, 1)
        super()._drain_all(rest, parallelism)

    def drain_one(self, sink: Sink) -> None:  # type: ignore[misc] - ordering needs it, see module doc
        if self._sink_role(sink) not in FIRST_ROLES:
            for other in list(self._sinks_active.values()):
                if other is not sink and self._sink_role(other) in FIRST_ROLES:
                    super().drain_one(other)
        elif self._sink_role(sink) == "prospects":
            for other in list(self._sinks_active.values()):
                if self._sink_role(other) == "users":
                    super().drain_one(other)
        super().drain_one(sink)

    def _write_state_message(self, state: dict) -> None:
        self._batches.wait()  # STATE only once every batch before it is written; raises if one failed
        if self.settings.dry_run:
            self.logger.info("Dry run: STATE not emitted (nothing was written to Salesforce)")
            return
        super()._write_state_message(self._held_back(state))

    def _held_back(self, state: dict) -> dict:
        """The touchpoints streams' bookmarks held back to the oldest parked touchpoint
        (state_holdback.py): STATE never acknowledges work that is only parked."""
        run = self._run
        if run is None or not isinstance(state, dict):
            return state
        streams = []
        for name in (state.get("bookmarks") or {}):
            try:
                if self.role_for(name) == "touchpoints":
                    streams.append(name)
            except ValueError:
                continue
        if not streams:
            return state
        out, info = hold_back(state, streams, run.links.pending_since("touchpoint"),
                              now=datetime.now(timezone.utc), max_days=self.settings.parked_max_days)
        if info:
            run.report.section("state").update(info)
            for stream, held in info.get("held_back", {}).items():
                self.logger.info("STATE: %s bookmark held back from %s to %s, the oldest of %d touchpoints "
                                 "parked until their person is in Salesforce", stream, held["bookmark"],
                                 held["emitted"], held["parked"])
        return out

    # -- end of run -----------------------------------------------------------------------

    def process_endofpipe(self) -> None:
        super().process_endofpipe()
        self._batches.wait()
        run = self._run
        if not self._failed:
            run = self._replay_rejects(run)
        if run is not None and not self._failed:
            for handler in self._handlers.values():
                try:
                    handler.pending(run)
                except Exception as exc:  # the touchpoints stay parked for the next run
                    self.logger.warning("Pending %s not written this run: %s", handler.name, exc)
        if not self._failed and crm_status_sync.enabled(self.settings):
            self._sync_crm_status(run)
        self.finish_run()

    def _replay_rejects(self, run: RunContext | None) -> RunContext | None:
        """Records rejected by earlier runs whose retry is due (rejects_replay.py), after this run's
        input, prospects before touchpoints; a run without input opens only when some are due."""
        if self.settings.dry_run:
            return run
        if run is None:
            if not rejects_replay.store_has_due(self.settings, self.settings.paths.links):
                return None
            run = self.run
        if run.retry is None:
            return run
        try:
            replayed = run.retry.replay_due(self._process_now)
        except BaseException as exc:  # process_role_batch reported it already
            self._failed = exc
            raise
        if replayed:
            run.report.section("rejects_retry").update({"replayed_by_role": replayed})
        return run

    def _sync_crm_status(self, run: RunContext | None) -> None:
        """The CRM's answer flows back (crm_status_sync.py), also in runs that brought no records:
        then the run is only opened when some prospect is linked."""
        if run is None:
            links = self.settings.paths.links
            if not self.settings.state_store_url and not links.exists():
                return
            store = open_store(self.settings, links)
            try:
                if not store.any_links():  # of any org: which one is known only after signing in
                    return
            finally:
                store.close()
        try:
            crm_status_sync.sync(run or self.run)
        except BaseException as exc:
            self._failed = exc
            self.finish_run(error=exc)
            raise

    def _handle_termination(self, signum: int, frame: Any) -> None:  # pragma: no cover - signal path
        # The SDK drains every sink and exits; the report must still be written.
        try:
            super()._handle_termination(signum, frame)
        finally:
            if self._run is not None:
                self._run.report.note(f"terminated by signal {signum} after draining buffered records")
            self.finish_run()

    def finish_run(self, error: BaseException | None = None) -> None:
        """Write the report (also on failure) and the summary; idempotent."""
        try:
            self._batches.wait()  # a no-op on the worker itself (a failing batch reports from there)
        except BaseException as exc:  # that failure was reported by its batch already
            error = error or exc
        with self._run_lock:
            if self._finished:
                return
            self._finished = True
            run = self._run
        for handler in self._handlers.values():
            handler.finish(run, self.settings)
        if run is None:
            if error is not None:
                # Startup failed (catalog, credentials, describe): still leave a report saying why.
                report = RunReport(dry_run=self.settings.dry_run, object_mode=self.settings.object_mode)
                report.status = "failed"
                report.error = f"{type(error).__name__}: {error}"
                report.finished_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
                try:
                    path = report.write(self.settings.paths.report)
                    self.logger.info("Run report written to %s", path)
                except OSError as exc:
                    self.logger.warning("Could not write the run report: %s", exc)
                self.logger.error("Run failed before any write: %s", error)
            return
        report = run.report
        report.status = "failed" if error is not None else "succeeded"
        if error is not None:
            report.error = f"{type(error).__name__}: {error}"
        report.finished_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        report.rejects_total = run.rejects.count
        if run.retry is not None:
            report.section("rejects_retry").update({**run.retry.figures, "replay_reject_lines": run.rejects.replayed})
        report.section("automation").update(run.writer.figures())
        # Earlier runs' rejects this run wrote after all are marked resolved (never in a dry run,
        # which writes nothing); the report names this run and the open rejects of all runs.
        lines = {} if run.dry_run else run.rejects.finish()
        report.section("rejects_file").update({"path": str(run.rejects.path), "run_id": run.rejects.run_id,
                                               "this_run": run.rejects.count, "by_status": lines})
        run.refresh_api_figures()
        path = report.write(run.settings.paths.report)
        if run.progress is not None:
            run.progress.add(0, force=True)
        report.log_summary(self.logger)
        self.logger.info("Run report written to %s", path)
        if error is not None:
            self.logger.error("Run failed: %s", error)
        try:
            run.writer.close()
            run.client.close()
            if run.lease is not None:
                run.lease.release()  # after the last write and the report
            run.links.close()
        except Exception:  # closing is best effort
            self.logger.debug("closing run resources failed", exc_info=True)
