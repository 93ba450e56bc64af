"""The setup web app: server-rendered pages (Starlette + Jinja2), plain HTML forms, no script needed.

Pages: Connect, Objects, Field mapping, Switches, Preview, Save. The draft lives in memory until
Save. Only for 127.0.0.1: the Host header must name it (no DNS rebinding) and every POST carries
the page's own token (no cross-site form posts).
"""

from __future__ import annotations

import secrets
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ..catalog import CREATED_OBJECTS, OBJECT_MODES, OWNER_SOURCE, POLICIES, field_index
from ..connect import (
    CALLBACK_PATH,
    ConnectError,
    build_authorize_url,
    domain_setting,
    exchange_code,
    pkce_pair,
)
from ..mapping_cli import STATUS_TEXT
from ..salesforce.auth import resolve_login_url
from ..salesforce.errors import SalesforceError
from ..salesforce.redact import register_secrets
from . import model
from .org import Org, connection_settings
from .preview import PreviewError, file_messages, recent_messages, run_preview
from .workspace import Workspace, WorkspaceError

HERE = Path(__file__).resolve().parent
PAGES = [("connect", "Connect"), ("objects", "Objects"), ("mapping", "Field mapping"), ("switches", "Switches"),
         ("preview", "Preview"), ("save", "Save")]
MODE_TEXT = {"lead": "Leads", "contact_account": "Contacts + Accounts"}
POLICY_TEXT = {"overwrite": "overwrite", "if_empty": "only if empty", "on_create": "only on create"}
TRANSFORM_TEXT = {"": "none", "trim": "trim spaces", "lowercase": "lowercase", "uppercase": "uppercase",
                  "domain_from_website": "domain from website"}
FALLBACK_TEXT = {"assignment_rules": "Salesforce assignment rules (Leads), else the integration user",
                 "integration_user": "the integration user (the one signed in here)",
                 "user": "a fixed user (by email)"}


@dataclass
class SetupState:
    workspace: Workspace
    login_url: str | None = None            # --login-url: an explicit login host (e.g. the emulator)
    config: dict[str, Any] = field(default_factory=dict)
    draft: model.Draft | None = None
    saved: model.Draft | None = None
    org: Org | None = None
    org_error: str | None = None
    stored_where: str | None = None
    last_environment: str | None = None     # the Connect form's last choice
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)   # OAuth state -> PKCE verifier etc.
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    flash: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def load(self) -> None:
        """Read the files (and the project's connection, if it has one) afresh."""
        self.config = self.workspace.effective_config()
        self.draft = self.workspace.initial_draft(self.config)
        self.saved = self.draft.copy()
        credentials = connection_settings(self.config).keys() - {"auth_flow", "login_url", "domain", "api_version",
                                                                  "request_timeout", "jwt_audience"}
        if self.org is None and credentials:
            try:
                self.org = Org.connect(self.config, how="settings")
            except (SalesforceError, OSError) as exc:
                self.org_error = f"The project's saved connection did not work: {exc}"

    def message(self, kind: str, text: str) -> None:
        self.flash.append((kind, text))

    def take_flash(self) -> list[tuple[str, str]]:
        out, self.flash = self.flash, []
        return out

    @property
    def describes(self) -> dict[str, dict]:
        return self.org.describes if self.org else {}

    def run_config(self) -> dict[str, Any]:
        """The target config a run would get with the draft: today's settings, the draft's catalog
        and switches, and the connection signed in here."""
        assert self.draft is not None
        config = {k: v for k, v in self.config.items() if k not in ("mapping_catalog", "mapping_catalog_inline")}
        config.update(self.draft.settings)
        if config.get("owner_fallback") != "user":
            config.pop("fallback_owner_email", None)
        config["mapping_catalog_inline"] = self.draft.catalog
        config["object_mode"] = self.draft.object_mode
        if self.org is not None:
            for key in ("auth_flow", "client_id", "client_secret", "refresh_token", "username", "password",
                        "security_token", "private_key", "private_key_path", "access_token", "domain",
                        "login_url"):
                config.pop(key, None)
            config.update(self.org.settings)
        return config


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals.update(PAGES=PAGES, MODE_TEXT=MODE_TEXT, POLICY_TEXT=POLICY_TEXT, POLICIES=POLICIES,
                                 TRANSFORM_TEXT=TRANSFORM_TEXT, STATUS_TEXT=STATUS_TEXT,
                                 FALLBACK_TEXT=FALLBACK_TEXT, OWNER_SOURCE=OWNER_SOURCE)
    return templates


async def _form(request: Request) -> dict[str, str]:
    """application/x-www-form-urlencoded, the only encoding the pages send (no multipart needed)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(body, keep_blank_values=True))


def create_app(state: SetupState) -> Starlette:
    templates = _templates()

    def render(request: Request, page: str, status: int = 200, **context: Any) -> Response:
        dirty = state.draft is not None and state.saved is not None and (
            state.draft.catalog != state.saved.catalog or state.draft.settings != state.saved.settings)
        return templates.TemplateResponse(request, f"{page}.html", {
            "page": page, "state": state, "csrf": state.csrf, "flash": state.take_flash(), "dirty": dirty,
            "draft": state.draft, "org": state.org, **context}, status_code=status)

    async def checked_form(request: Request) -> dict[str, str] | None:
        form = await _form(request)
        if not secrets.compare_digest(form.get("csrf", ""), state.csrf):
            return None
        return form

    def forbidden() -> Response:
        return HTMLResponse("<h1>403</h1><p>This form did not come from the setup page. Reload the page and try "
                            "again.</p>", status_code=403)

    def see(path: str) -> Response:
        return RedirectResponse(path, status_code=303)

    # ---- Connect ------------------------------------------------------------------------------

    async def home(request: Request) -> Response:
        return see("/connect")

    async def connect_page(request: Request) -> Response:
        config = state.config
        login_url = state.login_url or config.get("login_url") or ""
        domain = str(config.get("domain") or "login")
        env = "sandbox" if domain == "test" else ("production" if domain == "login" else "mydomain")
        env = state.last_environment or env
        return render(request, "connect", env=env, my_domain="" if env != "mydomain" else domain,
                      login_url=login_url, client_id=config.get("client_id") or "",
                      callback=str(request.base_url).rstrip("/") + CALLBACK_PATH)

    async def connect_start(request: Request) -> Response:
        form = await checked_form(request)
        if form is None:
            return forbidden()
        env = form.get("environment", "production")
        state.last_environment = env if env in ("sandbox", "production", "mydomain") else None
        if env == "mydomain":
            domain = domain_setting(form.get("my_domain", "").strip())
            if not domain:
                state.message("error", "Enter your My Domain (for example acme or acme.my.salesforce.com).")
                return see("/connect")
        else:
            domain = domain_setting(env)
        client_id = form.get("client_id", "").strip()
        if not client_id:
            state.message("error", "Enter the connected app's consumer key (client id).")
            return see("/connect")
        explicit = form.get("login_url", "").strip() or None
        login_url = resolve_login_url(domain, explicit)
        verifier, challenge = pkce_pair()
        register_secrets(verifier)
        client_secret = form.get("client_secret", "").strip() or state.config.get("client_secret") or None
        register_secrets(client_secret)
        oauth_state = secrets.token_urlsafe(24)
        redirect_uri = str(request.base_url).rstrip("/") + CALLBACK_PATH
        with state.lock:
            state.pending = {oauth_state: {"verifier": verifier, "login_url": login_url, "client_id": client_id,
                                           "client_secret": client_secret, "redirect_uri": redirect_uri,
                                           "where": {"login_url": login_url} if explicit else {"domain": domain}}}
        return see(build_authorize_url(login_url, client_id=client_id, redirect_uri=redirect_uri,
                                       challenge=challenge, state=oauth_state))

    async def oauth_callback(request: Request) -> Response:
        params = dict(request.query_params)
        with state.lock:
            pending = state.pending.pop(params.get("state", ""), None)
        if pending is None:
            state.message("error", "That sign-in answer does not belong to a sign-in started here (state "
                                   "mismatch); nothing was stored. Start again.")
            return see("/connect")
        if "error" in params or not params.get("code"):
            state.message("error", f"Salesforce did not sign you in: {params.get('error', 'no code')} "
                                   f"{params.get('error_description', '')}")
            return see("/connect")
        register_secrets(params["code"])

        def finish() -> tuple[Org, str]:
            settings, _token = exchange_code(pending["login_url"], client_id=pending["client_id"],
                                             client_secret=pending["client_secret"], code=params["code"],
                                             redirect_uri=pending["redirect_uri"], verifier=pending["verifier"])
            settings = {**settings, **pending["where"]}
            org = Org.connect({**settings, "auth_flow": "refresh_token"}, how="oauth")
            try:
                where = state.workspace.store_credentials(settings)
            except BaseException:
                org.close()
                raise
            return org, where

        try:
            org, where = await run_in_threadpool(finish)
        except (ConnectError, SalesforceError, WorkspaceError, OSError, subprocess.TimeoutExpired) as exc:
            state.message("error", f"Sign-in failed: {exc}")
            return see("/connect")
        with state.lock:
            old, state.org, state.org_error, state.stored_where = state.org, org, None, where
        if old is not None:
            old.close()
        state.message("ok", f"Connected to {org.instance_url} as {org.user_name or org.username}. Stored {where}.")
        return see("/connect")

    # ---- Objects ------------------------------------------------------------------------------

    async def objects_page(request: Request) -> Response:
        return render(request, "objects", modes=OBJECT_MODES, created=CREATED_OBJECTS)

    async def objects_post(request: Request) -> Response:
        form = await checked_form(request)
        if form is None:
            return forbidden()
        mode = form.get("object_mode", "")
        if mode not in OBJECT_MODES:
            state.message("error", "Choose Leads, or Contacts + Accounts.")
            return see("/objects")
        with state.lock:
            assert state.draft is not None
            if mode != state.draft.object_mode:
                state.draft.catalog = model.change_mode(state.draft.catalog, mode)
        state.message("ok", f"Prospects will be created as {MODE_TEXT[mode]}.")
        return see("/mapping")

    # ---- Field mapping ------------------------------------------------------------------------

    def mapping_context() -> dict[str, Any]:
        assert state.draft is not None
        draft = state.draft
        result = model.check(draft, state.describes) if state.org else None
        sources = model.row_sources()
        fields = dict(model.prospect_fields())
        tables = []
        for sobject, created in model.sections(draft.object_mode):
            describe = state.describes.get(sobject, {})
            index = field_index(describe)
            rows = []
            for src in sources:
                entry = model.row_entry(draft.catalog, sobject, src)
                options = model.candidates(describe, sobject, src, created, entry) if describe else []
                current = entry["field"] if entry else ""
                names = {o["name"] for o in options}
                issue = result.issue_for(sobject, current) if (result and current) else None
                extra = None
                if current and current not in names:
                    desc = index.get(current.casefold())
                    extra = {"name": current, "label": (desc or {}).get("label") or current,
                             "type": (desc or {}).get("type", "missing"), "invalid": True}
                rows.append({
                    "source": src, "source_label": "Record owner (resolved from the Andsend user)"
                    if src == OWNER_SOURCE else src, "source_type": fields.get(src, "User"),
                    "entry": entry, "field": current, "options": options, "extra": extra, "issue": issue,
                    "policy": (entry or {}).get("policy", "on_create" if src == OWNER_SOURCE else "if_empty"),
                    "transform": model.simple_transform(entry), "default": model.default_value(entry),
                    "kept": model.kept_transforms(entry), "more_sources": model.sources_of(entry or {})[1:],
                })
            others = model.other_entries(draft.catalog, sobject, set(sources))
            fixed = [{"entry": e, "issue": result.issue_for(sobject, e["field"]) if result else None,
                      "picklist": [v["value"] for v in (index.get(e["field"].casefold()) or {}).get(
                          "picklistValues", []) if v.get("active", True)]}
                     for e in model.fixed_entries(draft.catalog, sobject)]
            tables.append({"object": sobject, "created": created, "rows": rows, "others": others, "fixed": fixed,
                           "fixed_options": model.fixed_candidates(describe, draft.catalog, sobject, created)
                           if describe else [],
                           "required": result.required_unmapped(sobject) if result else []})
        return {"tables": tables, "check": result}

    async def mapping_page(request: Request) -> Response:
        return render(request, "mapping", **mapping_context())

    def apply_mapping_form(form: dict[str, str]) -> None:
        assert state.draft is not None
        updates = []
        for sobject, _created in model.sections(state.draft.object_mode):
            for src in model.row_sources():
                key = f"{sobject}|{src}"
                if f"field|{key}" not in form:
                    continue
                updates.append(model.RowUpdate(
                    sobject=sobject, source=src, field=form.get(f"field|{key}", ""),
                    policy=form.get(f"policy|{key}", "if_empty"), transform=form.get(f"transform|{key}", ""),
                    default=form.get(f"default|{key}", "")))
        catalog = model.apply_rows(state.draft.catalog, updates)
        for sobject, _created in model.sections(state.draft.object_mode):
            edits = [model.FixedUpdate(field=e["field"], value=form.get(f"fixed|{sobject}|{e['field']}", ""),
                                       policy=form.get(f"fixedpolicy|{sobject}|{e['field']}", "on_create"),
                                       remove=form.get(f"fixedremove|{sobject}|{e['field']}") == "on")
                     for e in model.fixed_entries(catalog, sobject) if f"fixed|{sobject}|{e['field']}" in form]
            new = model.FixedUpdate(field=form.get(f"newfixed_field|{sobject}", ""),
                                    value=form.get(f"newfixed_value|{sobject}", ""),
                                    policy=form.get(f"newfixed_policy|{sobject}", "on_create"))
            catalog = model.apply_fixed(catalog, sobject, edits, new)
        state.draft.catalog = catalog

    async def mapping_post(request: Request) -> Response:
        form = await checked_form(request)
        if form is None:
            return forbidden()
        with state.lock:
            apply_mapping_form(form)
        if form.get("action") == "refresh":
            if state.org is None:
                state.message("error", "Connect to Salesforce first.")
                return see("/connect")
            try:
                await run_in_threadpool(state.org.refresh)
            except SalesforceError as exc:
                state.message("error", f"Could not read Salesforce's field lists: {exc}")
                return see("/mapping")
            state.message("ok", "Field lists read again from Salesforce.")
        else:
            state.message("ok", "Mapping updated (not saved yet).")
        return see("/mapping")

    # ---- Switches -----------------------------------------------------------------------------

    async def switches_page(request: Request) -> Response:
        return render(request, "switches", fallbacks=model.OWNER_FALLBACKS)

    async def switches_post(request: Request) -> Response:
        form = await checked_form(request)
        if form is None:
            return forbidden()
        with state.lock:
            assert state.draft is not None
            for key in model.SWITCHES:
                state.draft.settings[key] = form.get(key) == "on"
            fallback = form.get("owner_fallback", "assignment_rules")
            state.draft.settings["owner_fallback"] = fallback if fallback in model.OWNER_FALLBACKS else \
                "assignment_rules"
            state.draft.settings["fallback_owner_email"] = form.get("fallback_owner_email", "").strip()
        email = state.draft.settings["fallback_owner_email"]
        if state.draft.settings["owner_fallback"] == "user" and email and state.org is not None:
            user = await run_in_threadpool(state.org.active_user_by_email, email)
            if user is None:
                state.message("error", f"No active Salesforce user has the email {email}: records would fall "
                                       "back to the integration user.")
        state.message("ok", "Switches updated (not saved yet).")
        return see("/switches")

    # ---- Preview ------------------------------------------------------------------------------

    def preview_defaults() -> dict[str, Any]:
        return {"api_url": state.config.get("andsend_api_url") or "",
                "has_key": bool(state.config.get("andsend_api_key")), "limit": 25, "source": "recent",
                "sample_path": ""}

    async def preview_page(request: Request) -> Response:
        return render(request, "preview", form=preview_defaults(), result=None, error=None)

    async def preview_post(request: Request) -> Response:
        form = await checked_form(request)
        if form is None:
            return forbidden()
        values = {**preview_defaults(), **{k: form[k] for k in ("api_url", "limit", "source", "sample_path")
                                           if k in form}}
        if state.org is None:
            return render(request, "preview", form=values, result=None,
                          error="Connect to Salesforce first: the preview reads the org.")
        check = model.check(state.draft, state.describes)
        if not check.valid:
            return render(request, "preview", form=values, result=None,
                          error="Fix the mapping first: " + " ".join(check.messages()))
        try:
            limit = max(1, min(200, int(values.get("limit") or 25)))
        except ValueError:
            limit = 25
        api_key = form.get("api_key", "").strip() or state.config.get("andsend_api_key") or ""
        register_secrets(api_key)

        def work() -> Any:
            if values["source"] == "file":
                lines = file_messages(Path(values["sample_path"].strip()), limit=limit)
            else:
                if not values["api_url"] or not api_key:
                    raise PreviewError("Enter the Andsend API URL and key (or choose a sample file).")
                lines = recent_messages(values["api_url"], api_key, limit=limit)
            return run_preview(state.run_config(), lines, state.org.user_names)

        try:
            result = await run_in_threadpool(work)
        except (PreviewError, SalesforceError) as exc:
            return render(request, "preview", form=values, result=None, error=str(exc))
        except Exception as exc:  # the target's own failure, shown rather than a blank 500
            return render(request, "preview", form=values, result=None, error=f"The dry run failed: {exc}")
        return render(request, "preview", form=values, result=result, error=None)

    # ---- Save ---------------------------------------------------------------------------------

    def save_context() -> dict[str, Any]:
        assert state.draft is not None
        if state.org is None:
            return {"check": None, "changes": [], "digest": "", "shadowed": []}
        check = model.check(state.draft, state.describes)
        changes = state.workspace.planned_changes(state.draft, state.config)
        updates = state.workspace.setting_updates(state.draft, state.config,
                                                  state.workspace.catalog_path(state.config))
        return {"check": check, "changes": changes, "digest": state.workspace.digest(changes),
                "shadowed": state.workspace.shadowing(list(updates)),
                "inline": bool(state.config.get("mapping_catalog_inline"))}

    async def save_page(request: Request) -> Response:
        return render(request, "save", **await run_in_threadpool(save_context))

    async def save_post(request: Request) -> Response:
        form = await checked_form(request)
        if form is None:
            return forbidden()
        with state.lock:
            context = save_context()
            check = context["check"]
            if check is None or not check.valid:
                state.message("error", "Nothing was saved: the mapping is not valid (see below).")
                return render(request, "save", status=409, **save_context())
            if form.get("digest") != context["digest"]:
                state.message("error", "The files or the draft changed since this diff was shown; nothing was "
                                       "saved. Check the new diff and save again.")
                return render(request, "save", status=409, **save_context())
            written = state.workspace.write(context["changes"])
            state.config = await run_in_threadpool(state.workspace.effective_config)
            state.saved = state.draft.copy()
        state.message("ok", "Saved: " + (", ".join(str(p) for p in written) or "nothing had changed") + ".")
        return see("/save")

    async def reload_post(request: Request) -> Response:
        form = await checked_form(request)
        if form is None:
            return forbidden()
        await run_in_threadpool(state.load)
        state.message("ok", "Changes discarded; the files were read again.")
        return see("/connect")

    routes = [
        Route("/", home),
        Route("/connect", connect_page),
        Route("/connect", connect_start, methods=["POST"]),
        Route(CALLBACK_PATH, oauth_callback),
        Route("/objects", objects_page),
        Route("/objects", objects_post, methods=["POST"]),
        Route("/mapping", mapping_page),
        Route("/mapping", mapping_post, methods=["POST"]),
        Route("/switches", switches_page),
        Route("/switches", switches_post, methods=["POST"]),
        Route("/preview", preview_page),
        Route("/preview", preview_post, methods=["POST"]),
        Route("/save", save_page),
        Route("/save", save_post, methods=["POST"]),
        Route("/reload", reload_post, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[
        Middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost"])])
    app.state.setup = state
    return app
