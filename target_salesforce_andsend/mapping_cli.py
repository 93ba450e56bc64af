"""`target-salesforce-andsend mapping show|validate`: the catalog next to the org's describe data.

Describe is fetched fresh on every call, so a field an admin has just created shows up at once.
Exit status 0 when the catalog fits the org, 1 when it does not, 2 for unusable configuration.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import field_access, record_types
from .catalog import (
    CREATED_OBJECTS,
    Catalog,
    CatalogError,
    Issue,
    Mapping,
    check_catalog,
    field_index,
    load_catalog,
)
from .context import objects_needed
from .match_rules import DEFAULT_ORDER, validate_order
from .settings import Settings, SettingsError

STATUS_STYLE = {
    "ok": "green",
    "missing": "red",
    "not_writable": "red",
    "type_mismatch": "red",
    "required_unmapped": "red",
    "unknown_record_type": "red",
    "picklist_value": "red",
}
STATUS_TEXT = {
    "ok": "ok",
    "missing": "missing in Salesforce",
    "not_writable": "not writable",
    "type_mismatch": "type mismatch",
    "required_unmapped": "required but unmapped",
    "unknown_record_type": "unknown record type",
    "picklist_value": "value not in the record type",
}


def load_config(paths: Sequence[str]) -> dict[str, Any]:
    """Merge the config files in order; ``ENV`` reads the TARGET_SALESFORCE_ANDSEND_* variables
    (how Meltano hands a plugin command its settings: `meltano invoke target-salesforce-andsend:mapping-show`)."""
    config: dict[str, Any] = {}
    for path in paths:
        if path == "ENV":
            from .target import TargetSalesforceAndsend

            config.update(TargetSalesforceAndsend._env_var_config)
            continue
        try:
            config.update(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise SystemExit(f"cannot read config {path}: {exc}") from exc
    return config


def _transform_text(m: Mapping) -> str:
    parts = []
    for t in m.transforms:
        detail = {k: v for k, v in t.items() if k != "type"}
        parts.append(t["type"] + (f" {json.dumps(detail, ensure_ascii=False)}" if detail else ""))
    return "; ".join(parts)


def rows(catalog: Catalog, describes: dict[str, dict], issues: list[Issue]) -> list[dict[str, str]]:
    by_field = {(i.object, i.field.casefold()): i for i in issues}
    out = []
    for m in catalog.mappings:
        desc = field_index(describes.get(m.object, {})).get(m.field.casefold(), {})
        issue = by_field.get((m.object, m.field.casefold()))
        sf_type = desc.get("type", "")
        if desc.get("length"):
            sf_type += f"({desc['length']})"
        out.append({
            "object": m.object, "field": m.field, "source": " | ".join(m.source) or "-",
            "transform": _transform_text(m), "policy": m.policy, "overlength": m.on_overlength,
            "salesforce_type": sf_type, "status": issue.status if issue else "ok",
            "message": issue.message if issue else "",
        })
    for i in issues:
        if i.status in ("required_unmapped", "unknown_record_type"):
            desc = field_index(describes.get(i.object, {})).get(i.field.casefold(), {})
            out.append({"object": i.object, "field": i.field, "source": "-", "transform": "", "policy": "-",
                        "overlength": "-", "salesforce_type": desc.get("type", ""), "status": i.status,
                        "message": i.message})
    return out


def render(console: Console, catalog: Catalog, table_rows: list[dict[str, str]], instance: str) -> None:
    table = Table(title=f"Mapping catalog {catalog.origin} (mode {catalog.object_mode}) vs {instance}",
                  show_lines=False)
    for col in ("Object", "Field", "Andsend source", "Transform", "Policy", "Over-length", "Salesforce type",
                "Status"):
        table.add_column(col, overflow="fold")
    for r in table_rows:
        style = STATUS_STYLE.get(r["status"], "")
        cells = [escape(r[k]) for k in ("object", "field", "source", "transform", "policy", "overlength",
                                         "salesforce_type")]
        table.add_row(*cells, f"[{style}]{STATUS_TEXT.get(r['status'], r['status'])}[/{style}]")
    console.print(table)
    created = ", ".join(CREATED_OBJECTS[catalog.object_mode])
    console.print(f"Creates: {created}. Linked records are enriched per policy.")


ACCESS_TEXT = {"hidden": "hidden (not in describe)", "read_only": "read-only", "create_only": "create only",
               "update_only": "update only"}


def render_access(console: Console, access: dict[str, list[dict[str, str]]], used_types: dict[str, str]) -> None:
    """Fields the signed-in user cannot write (field-level security), and the record types used."""
    for sobject, name in used_types.items():
        console.print(f"Record type of created {sobject} records: {escape(name)}")
    if not access:
        return
    table = Table(title="Fields the integration user cannot write", show_lines=False)
    for col in ("Object", "Field", "Access", "Written by", "What the run does"):
        table.add_column(col, overflow="fold")
    for sobject, rows in access.items():
        for r in rows:
            effect = ("the run does not start (fix the catalog or the access)" if r["source"] == "catalog"
                      else "left out of writes, reported")
            table.add_row(sobject, r["field"], ACCESS_TEXT.get(r["access"], r["access"]),
                          "catalog" if r["source"] == "catalog" else "the target", effect)
    console.print(table)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="target-salesforce-andsend mapping",
                                     description="Show or validate the field-mapping catalog against the org.")
    parser.add_argument("action", choices=["show", "validate"])
    parser.add_argument("--config", action="append", default=[], help="target config JSON (repeatable)")
    parser.add_argument("--format", choices=["table", "json"], default="table")
    args = parser.parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(level=logging.WARNING)
    config = load_config(args.config)
    console = Console(soft_wrap=False, width=200)
    try:
        settings = Settings.from_config(config)
        catalog = load_catalog(settings)
    except (CatalogError, SettingsError) as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        return 1

    from .salesforce.client import SalesforceClient
    from .salesforce.errors import SalesforceError

    client = SalesforceClient(settings, read_limits_at_start=False)
    try:
        describes = {obj: client.describe(obj) for obj in objects_needed(catalog)}
        instance = client.instance_url
        issues = check_catalog(catalog, describes)
        # Record types: the named ones must exist; values the catalog spells must be allowed.
        chosen, rt_issues = record_types.load(client.picklist_values, catalog, describes)
        issues += rt_issues
    except SalesforceError as exc:
        console.print(f"[red]Cannot read the org's describe data: {escape(str(exc))}[/red]")
        return 2
    finally:
        client.close()
    access = field_access.report(catalog, describes)
    try:
        validate_order(settings.match_order or DEFAULT_ORDER)
    except ValueError as exc:  # the run refuses it at start: so does validate
        issues.append(Issue("-", "match_order", "invalid_setting", f"{exc} (setting match_order)"))
    table_rows = rows(catalog, describes, issues)
    used_types = {o: c.developer_name + ("" if c.send else " (the user's default)") for o, c in chosen.items()}
    if args.format == "json":
        console.print_json(json.dumps({"catalog": catalog.origin, "object_mode": catalog.object_mode,
                                       "valid": not issues, "fields": table_rows, "record_types": used_types,
                                       "field_access": access}))
    elif args.action == "show":
        render(console, catalog, table_rows, instance)
    if args.format == "table":
        render_access(console, access, used_types)
    if issues:
        if args.format == "table":
            console.print(f"[red]{len(issues)} problem(s):[/red]")
            for issue in issues:
                console.print(f"  - {escape(issue.message)}")
        return 1
    if args.format == "table":
        console.print(f"[green]The catalog fits the org ({len(catalog.mappings)} mappings).[/green]")
    return 0
