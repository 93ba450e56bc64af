"""salesforce-metadata/: the SFDX source a real org needs, in agreement with the emulator.

The emulator's describe documents claim the org has the Andsend external-id fields; this is
the metadata an admin deploys to make that true in a real org
(`sf project deploy start --source-dir salesforce-metadata/force-app`). Both must agree on
names, types, lengths and the external-id/unique flags, or the demo proves nothing about a
real org.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SFDX = ROOT / "salesforce-metadata"
DEFAULT = SFDX / "force-app" / "main" / "default"
DESCRIBES = ROOT / "emulators" / "salesforce" / "describes"
NS = {"md": "http://soap.sforce.com/2006/04/metadata"}

# Custom fields of Activity are defined once in metadata and appear on Task (and Event) in
# describes; the emulator serves Task only.
DESCRIBED_AS = {"Activity": ["Task"]}
PERMISSION_OBJECTS = {"Activity": ["Task", "Event"]}
# Metadata field type -> describe type (Salesforce's describe names the same types differently).
TYPES = {"Text": "string", "Url": "url", "Email": "email", "Phone": "phone", "Checkbox": "boolean",
         "Number": "double", "Date": "date", "DateTime": "datetime", "Picklist": "picklist",
         "LongTextArea": "textarea", "TextArea": "textarea"}
# Lengths Salesforce fixes for types whose metadata carries none.
FIXED_LENGTH = {"Url": 255, "Email": 80, "Phone": 40, "TextArea": 255}


def _shipped() -> dict[tuple[str, str], ET.Element]:
    """(metadata object folder, field) -> its CustomField element, for every shipped field."""
    out = {}
    for path in sorted(DEFAULT.glob("objects/*/fields/*.field-meta.xml")):
        out[(path.parent.parent.name, path.name.removesuffix(".field-meta.xml"))] = ET.parse(path).getroot()
    return out


def _described_custom_fields() -> dict[tuple[str, str], dict]:
    """(sObject, field) -> describe entry, for every custom field of the emulator's default org."""
    out = {}
    for path in sorted(DESCRIBES.glob("*.json")):
        describe = json.loads(path.read_text())
        for field in describe["fields"]:
            if field.get("custom"):
                out[(describe["name"], field["name"])] = field
    return out


FIELDS = [(folder, field, DESCRIBED_AS.get(folder, [folder])) for folder, field in _shipped()]


def _text(root: ET.Element, tag: str) -> str | None:
    el = root.find(f"md:{tag}", NS)
    return None if el is None else (el.text or "")


def test_sfdx_project_points_at_force_app() -> None:
    project = json.loads((SFDX / "sfdx-project.json").read_text())
    (package,) = project["packageDirectories"]
    assert package["path"] == "force-app" and package["default"] is True
    assert (SFDX / package["path"]).is_dir()
    assert float(project["sourceApiVersion"]) >= 60.0


def test_the_emulator_org_has_exactly_the_shipped_custom_fields() -> None:
    """Standard fields plus what salesforce-metadata/ ships, nothing more: the demo must not
    lean on a field an admin never deploys (the default catalogs map LinkedIn_Profile__c)."""
    shipped = {(sobject, field) for folder, field, sobjects in FIELDS for sobject in sobjects}
    assert set(_described_custom_fields()) == shipped


def test_the_default_catalogs_map_only_standard_or_shipped_fields() -> None:
    from target_salesforce_andsend.catalog import load_catalog

    custom = {(sobject, field) for folder, field, sobjects in FIELDS for sobject in sobjects}
    for mode in ("lead", "contact_account"):
        for mapping in load_catalog({"object_mode": mode}).mappings:
            if mapping.field.endswith("__c"):
                assert (mapping.object, mapping.field) in custom, f"{mode} catalog maps unshipped {mapping.label}"


@pytest.mark.parametrize(("folder", "field", "sobjects"), FIELDS)
def test_field_metadata_matches_the_emulator_describe(folder: str, field: str, sobjects: list[str]) -> None:
    root = _shipped()[(folder, field)]
    assert root.tag == f"{{{NS['md']}}}CustomField"
    assert _text(root, "fullName") == field
    kind = _text(root, "type") or ""
    assert kind in TYPES, f"{field}: metadata type {kind} has no describe mapping in this test"
    length = int(_text(root, "length") or FIXED_LENGTH.get(kind, 0))
    described_fields = _described_custom_fields()
    for sobject in sobjects:
        described = described_fields.get((sobject, field))
        assert described is not None, f"{sobject} describe lacks {field}"
        assert described["type"] == TYPES[kind]
        if length:
            assert described["length"] == length
        assert described["externalId"] is (_text(root, "externalId") == "true")
        assert described["unique"] is (_text(root, "unique") == "true")
        assert described["caseSensitive"] is (_text(root, "caseSensitive") == "true")
        assert described["nillable"] is (_text(root, "required") != "true")
        assert described["label"] == _text(root, "label")


def test_external_ids_are_unique_text_and_the_touchpoint_id_is_case_sensitive() -> None:
    shipped = _shipped()
    for key in [("Lead", "Andsend_Prospect_Id__c"), ("Contact", "Andsend_Prospect_Id__c"),
                ("Activity", "Andsend_Touchpoint_Id__c")]:
        root = shipped[key]
        assert (_text(root, "type"), _text(root, "externalId"), _text(root, "unique")) == ("Text", "true", "true")
    # Andsend ids are case-sensitive: tp_X_Case and tp_x_case are two touchpoints, two Tasks.
    assert _text(shipped[("Activity", "Andsend_Touchpoint_Id__c")], "caseSensitive") == "true"


def test_permission_set_grants_every_field() -> None:
    path = DEFAULT / "permissionsets" / "Andsend_Integration.permissionset-meta.xml"
    root = ET.parse(path).getroot()
    assert root.tag == f"{{{NS['md']}}}PermissionSet"
    assert _text(root, "label")
    granted = {
        _text(fp, "field"): (_text(fp, "readable"), _text(fp, "editable"))
        for fp in root.findall("md:fieldPermissions", NS)
    }
    # Field permissions of Activity fields are granted per Task and Event.
    expected = set()
    for folder, field, _ in FIELDS:
        objects = ["Task", "Event"] if folder == "Activity" else [folder]
        expected |= {f"{obj}.{field}" for obj in objects}
    assert set(granted) == expected
    assert all(v == ("true", "true") for v in granted.values())
    objects = {_text(op, "object"): op for op in root.findall("md:objectPermissions", NS)}
    assert set(objects) == {"Lead", "Contact", "Account"}
    for op in objects.values():
        assert _text(op, "allowRead") == _text(op, "allowCreate") == _text(op, "allowEdit") == "true"
        assert _text(op, "allowDelete") == "false"


def test_every_metadata_file_is_well_formed_xml() -> None:
    files = sorted(DEFAULT.rglob("*-meta.xml"))
    assert len(files) == len(FIELDS) + 1
    for path in files:
        ET.parse(path)
