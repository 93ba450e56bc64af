"""Discovery, limits, describe and single-record REST resources (reference §3–§5)."""

from __future__ import annotations

from typing import Any

from emulators.salesforce import dml, ids
from emulators.salesforce.core import Call, Resp, error, method_not_allowed, not_found
from emulators.salesforce.registry import ObjectSchema
from emulators.salesforce.state import SUPPORTED_VERSIONS, Emulator
from emulators.salesforce.validation import RecordError, RequestError, coerce

RESOURCES = ["tooling", "metadata", "eclair", "folders", "prechatForms", "jsonxform", "chatter", "tabs",
             "appMenu", "quickActions", "queryAll", "commerce", "wave", "iot", "analytics", "search",
             "smartdatadiscovery",
             "identity", "composite", "parameterizedSearch", "fingerprint", "theme", "nouns", "domino", "event",
             "serviceTemplates", "recent", "connect", "licensing", "limits", "process", "async-queries", "query",
             "match", "emailConnect", "compactLayouts", "knowledgeManagement", "sobjects", "actions", "support"]


def versions() -> list[dict[str, str]]:
    return [{"label": label, "url": f"/services/data/v{v}", "version": v} for v, label in SUPPORTED_VERSIONS.items()]


def resources(emu: Emulator, call: Call) -> Resp:
    return Resp(200, {name: f"{call.base}/{name}" for name in RESOURCES})


def limits(emu: Emulator, call: Call) -> Resp:
    remaining = max(0, emu.daily_max - emu.daily_used)

    def lim(mx: int, rem: int | None = None) -> dict[str, int]:
        return {"Max": mx, "Remaining": mx if rem is None else rem}

    return Resp(200, {
        "ActiveScratchOrgs": lim(3), "AnalyticsExternalDataSizeMB": lim(40960),
        "ConcurrentAsyncGetReportInstances": lim(200),
        "ConcurrentEinsteinDataInsightsStoryCreation": lim(5), "ConcurrentSyncReportRuns": lim(20),
        "DailyAnalyticsDataflowJobExecutions": lim(60), "DailyApiRequests": lim(emu.daily_max, remaining),
        "DailyAsyncApexExecutions": lim(250000), "DailyBulkApiBatches": lim(15000),
        "DailyBulkV2QueryFileStorageMB": lim(976562),
        "DailyBulkV2QueryJobs": lim(10000), "DailyDurableGenericStreamingApiEvents": lim(10000),
        "DailyDurableStreamingApiEvents": lim(10000), "DailyGenericStreamingApiEvents": lim(10000),
        "DailyStandardVolumePlatformEvents": lim(10000), "DailyStreamingApiEvents": lim(10000),
        "DailyWorkflowEmails": lim(1890), "DataStorageMB": lim(5), "FileStorageMB": lim(20),
        "HourlyDashboardRefreshes": lim(200), "HourlyDashboardResults": lim(5000),
        "HourlyDashboardStatuses": lim(999999999),
        "HourlyODataCallout": lim(20000), "HourlySyncReportRuns": lim(500), "HourlyTimeBasedWorkflow": lim(50),
        "MassEmail": lim(10), "PermissionSets": {"Max": 1500, "Remaining": 1498}, "SingleEmail": lim(15),
    })


def _global_entry(schema: ObjectSchema, base: str) -> dict[str, Any]:
    d = schema.describe
    keys = ("activateable", "createable", "custom", "customSetting", "deletable", "deprecatedAndHidden",
            "feedEnabled", "keyPrefix", "label", "labelPlural", "layoutable", "mergeable", "name", "queryable",
            "replicateable", "retrieveable", "searchable", "triggerable", "undeletable", "updateable")
    out = {k: d.get(k) for k in keys}
    out["urls"] = {"rowTemplate": f"{base}/sobjects/{schema.name}/{{ID}}",
                   "describe": f"{base}/sobjects/{schema.name}/describe",
                   "sobject": f"{base}/sobjects/{schema.name}"}
    return out


def describe_global(emu: Emulator, call: Call) -> Resp:
    objs = [emu.registry.get(n) for n in emu.registry.names()]
    return Resp(200, {"encoding": "UTF-8", "maxBatchSize": 200,
                      "sobjects": [_global_entry(s, call.base) for s in objs if s is not None]})


def _schema(emu: Emulator, name: str) -> ObjectSchema:
    schema = emu.registry.get(name)
    if schema is None:
        raise RequestError("NOT_FOUND", "The requested resource does not exist", status=404)
    return schema


def describe(emu: Emulator, call: Call, obj: str) -> Resp:
    schema = _schema(emu, obj)
    doc = emu.registry.describe_copy(schema.name)
    base = f"{call.base}/sobjects/{schema.name}"
    doc["urls"] = {"compactLayouts": f"{base}/describe/compactLayouts", "rowTemplate": f"{base}/{{ID}}",
                   "describe": f"{base}/describe", "sobject": base}
    doc["recordTypeInfos"] = emu.org_rules.record_type_infos(schema.name, call.api_version)
    return Resp(200, doc)


def picklist_values(emu: Emulator, call: Call, obj: str, record_type_id: str) -> Resp:
    """UI API ``/ui-api/object-info/{obj}/picklist-values/{recordTypeId}``: every picklist field's values
    (and default) for one record type; the Master record type has the object's own values."""
    from emulators.salesforce.org_rules import MASTER_RECORD_TYPE

    schema = _schema(emu, obj)
    rt = None
    if record_type_id[:15] != MASTER_RECORD_TYPE[:15]:
        rt = emu.org_rules.record_type(schema.name, record_type_id)
        if rt is None:
            return error(404, "NOT_FOUND", f"Record type {record_type_id} is not valid for {schema.name}")
    out: dict[str, Any] = {}
    for f in schema.describe["fields"]:
        if f["type"] not in ("picklist", "multipicklist"):
            continue
        spec = (rt.picklists.get(f["name"]) if rt else None) or {}
        active = [p for p in f["picklistValues"] if p.get("active", True)]
        values = [p for p in active if p["value"] in spec["values"]] if spec.get("values") else active
        default = spec.get("default") if spec else next((p["value"] for p in active if p.get("defaultValue")), None)
        out[f["name"]] = {
            "controllerValues": {}, "eTag": f"{schema.name}.{f['name']}.{record_type_id}",
            "defaultValue": None if default is None else {"attributes": None, "label": default, "validFor": [],
                                                          "value": default},
            "url": f"{call.base}/ui-api/object-info/{schema.name}/picklist-values/{record_type_id}/{f['name']}",
            "values": [{"attributes": None, "label": p.get("label") or p["value"], "validFor": [],
                        "value": p["value"]} for p in values],
        }
    return Resp(200, {"eTag": f"{schema.name}.{record_type_id}", "picklistFieldValues": out})


def sobject_info(emu: Emulator, call: Call, obj: str) -> Resp:
    """``GET /sobjects/{Obj}``: the basic information (global describe entry, recent items)."""
    schema = _schema(emu, obj)
    return Resp(200, {"objectDescribe": _global_entry(schema, call.base), "recentItems": []})


def create_record(emu: Emulator, call: Call, obj: str) -> Resp:
    """``POST /sobjects/{Obj}`` and ``POST /sobjects/{Obj}/Id`` (v37+): insert one record."""
    return create(emu, call, _schema(emu, obj))


def _body_object(call: Call) -> dict[str, Any]:
    body = call.json()
    if not isinstance(body, dict):
        raise RequestError("JSON_PARSER_ERROR",
                           "Cannot deserialize instance of sobject from START_ARRAY value [line:1, column:1]")
    return body


def create(emu: Emulator, call: Call, schema: ObjectSchema) -> Resp:
    body = _body_object(call)
    if any(k.lower() == "id" for k in body):
        return error(400, "INVALID_FIELD", "The Id field should not be specified in the sobject data.")
    values = coerce(schema, body)
    ctx = emu.write_context(call.user_id, api_version=call.api_version, allow_save=call.allow_save(),
                            auto_assign=call.auto_assign())
    try:
        with emu.store.transaction():
            if call.in_composite and emu.lock_fault():
                raise _lock_error()
            rid = dml.insert(emu, ctx, schema, values)
    except RecordError as exc:
        return Resp(400, exc.rest_body())
    return Resp(201, {"id": rid, "success": True, "errors": []},
                {"Location": f"{call.base}/sobjects/{schema.name}/{rid}"})


def _lock_error() -> RecordError:
    return RecordError("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records", [])


def record(emu: Emulator, call: Call, obj: str, rid: str) -> Resp:
    schema = _schema(emu, obj)
    canonical = ids.normalize(rid)
    if canonical is None or canonical[:3] != schema.key_prefix:
        if call.method in ("GET", "HEAD"):
            return not_found(f"Provided external ID field does not exist or is not accessible: {rid}")
        return error(400, "MALFORMED_ID", f"{schema.name} ID: id value of incorrect type: {rid}")
    if call.method in ("GET", "HEAD"):
        fields = dml.resolve_fields(schema, call.query.get("fields"))
        row = emu.store.get(schema.name, canonical)
        if row is None or row.get("IsDeleted"):
            return not_found()
        return Resp(200, dml.record_json(emu, schema, row, call.api_version, fields))
    ctx = emu.write_context(call.user_id, api_version=call.api_version, allow_save=call.allow_save(),
                            auto_assign=call.auto_assign())
    state = emu.store.exists_live(schema.name, canonical)
    if state is None:
        return not_found()
    if state is False:
        return error(404, "ENTITY_IS_DELETED", "entity is deleted", [])
    if call.method == "PATCH":
        values = coerce(schema, _body_object(call))
        try:
            with emu.store.transaction():
                if call.in_composite and emu.lock_fault():
                    raise _lock_error()
                dml.update(emu, ctx, schema, canonical, values)
        except RecordError as exc:
            return Resp(400, exc.rest_body())
        return Resp(204, None)
    try:
        with emu.store.transaction():
            if call.in_composite and emu.lock_fault():
                raise _lock_error()
            dml.delete(emu, ctx, schema, canonical)
    except RecordError as exc:
        return Resp(400, exc.rest_body())
    return Resp(204, None)


def by_external_id(emu: Emulator, call: Call, obj: str, field_name: str, value: str) -> Resp:
    schema = _schema(emu, obj)
    field = schema.field(field_name)
    if field is None or not (field.get("externalId") or field.get("idLookup") or field["name"] == "Id"):
        return not_found(f"Provided external ID field does not exist or is not accessible: {field_name}")
    if call.method not in ("GET", "PATCH", "DELETE", "POST"):
        return method_not_allowed(call.method, ["GET", "PATCH", "DELETE", "POST"])
    matches = dml.match_external(emu, schema, field, value)
    if call.method in ("GET", "DELETE") and len(matches) > 1:
        return Resp(300, [f"{call.base}/sobjects/{schema.name}/{m}" for m in matches])
    if call.method == "GET":
        if not matches:
            return not_found()
        row = emu.store.get(schema.name, matches[0])
        assert row is not None
        return Resp(200, dml.record_json(emu, schema, row, call.api_version,
                                         dml.resolve_fields(schema, call.query.get("fields"))))
    ctx = emu.write_context(call.user_id, api_version=call.api_version, allow_save=call.allow_save(),
                            auto_assign=call.auto_assign())
    if call.method == "DELETE":
        if not matches:
            return not_found()
        with emu.store.transaction():
            dml.delete(emu, ctx, schema, matches[0])
        return Resp(204, None)
    body = _body_object(call)
    for key in list(body):
        if key.lower() == field["name"].lower():
            if str(body[key]) != value:
                return error(400, "INVALID_FIELD",
                             f"The value of the external ID field {field['name']} in the request body does not "
                             "match the value in the URL", [field["name"]])
            del body[key]
    if any(k.lower() == "id" for k in body):
        return error(400, "INVALID_FIELD", "The Id field should not be specified in the sobject data.")
    if len(matches) > 1:
        return Resp(300, [f"{call.base}/sobjects/{schema.name}/{m}" for m in matches])
    update_only = call.query.get("updateOnly", "").lower() == "true"
    if update_only and not matches:
        return not_found()
    values = coerce(schema, body)
    try:
        with emu.store.transaction():
            if call.in_composite and emu.lock_fault():
                raise _lock_error()
            rid, created = dml.upsert(emu, ctx, schema, field, value, values, update_only=update_only)
    except RecordError as exc:
        if exc.status_code == "NOT_FOUND":
            return not_found()
        return Resp(400, exc.rest_body())
    version = float(call.api_version)
    if not created and version < 46.0:
        return Resp(204, None)
    body_out = {"id": rid, "success": True, "errors": [], "created": created}
    headers = {"Location": f"{call.base}/sobjects/{schema.name}/{rid}"} if created else {}
    return Resp(201 if created else 200, body_out, headers)
