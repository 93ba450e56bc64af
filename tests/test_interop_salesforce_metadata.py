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

# (metadata folder, field, the sObjects whose describe carries it). Task custom fields are
# defined on Activity in metadata and appear on Task (and Event) in describes.
FIELDS = [
    ("Lead", "Andsend_Prospect_Id__c", ["Lead"]),
    ("Contact", "Andsend_Prospect_Id__c", ["Contact"]),
    ("Activity", "Andsend_Touchpoint_Id__c", ["Task"]),
    ("Account", "Andsend_Account_Key__c", ["Account"]),
]
# Companion fields: plain filterable text (every Andsend id merged into the person), not unique.
COMPANIONS = [
    ("Lead", "Andsend_Prospect_Ids__c", ["Lead"]),
    ("Contact", "Andsend_Prospect_Ids__c", ["Contact"]),
]
LENGTHS = {"Andsend_Account_Key__c": 255, "Andsend_Prospect_Ids__c": 255}


def _text(root: ET.Element, tag: str) -> str | None:
    el = root.find(f"md:{tag}", NS)
    return None if el is None else (el.text or "")


def test_sfdx_project_points_at_force_app() -> None:
    project = json.loads((SFDX / "sfdx-project.json").read_text())
    (package,) = project["packageDirectories"]
    assert package["path"] == "force-app" and package["default"] is True
    assert (SFDX / package["path"]).is_dir()
    assert float(project["sourceApiVersion"]) >= 60.0


@pytest.mark.parametrize(("folder", "field", "sobjects"), FIELDS)
def test_field_metadata_matches_the_emulator_describe(folder: str, field: str, sobjects: list[str]) -> None:
    path = DEFAULT / "objects" / folder / "fields" / f"{field}.field-meta.xml"
    root = ET.parse(path).getroot()
    assert root.tag == f"{{{NS['md']}}}CustomField"
    assert _text(root, "fullName") == field
    assert _text(root, "type") == "Text"
    assert _text(root, "externalId") == "true"
    assert _text(root, "unique") == "true"
    assert _text(root, "caseSensitive") == "false"
    assert _text(root, "required") == "false"
    length = int(_text(root, "length") or 0)
    assert length == LENGTHS.get(field, 64)
    if not DESCRIBES.is_dir():
        pytest.fail(f"emulator describe documents missing: {DESCRIBES}")
    for sobject in sobjects:
        describe = json.loads((DESCRIBES / f"{sobject}.json").read_text())
        fields = {f["name"]: f for f in describe["fields"]}
        assert field in fields, f"{sobject} describe lacks {field}"
        described = fields[field]
        assert described["type"] == "string"
        assert described["length"] == length
        assert described["externalId"] is True
        assert described["unique"] is True
        assert described["caseSensitive"] is False
        assert described["custom"] is True
        assert described["nillable"] is True
        assert described["label"] == _text(root, "label")


@pytest.mark.parametrize(("folder", "field", "sobjects"), COMPANIONS)
def test_companion_field_metadata_matches_the_emulator_describe(folder: str, field: str, sobjects: list[str]) -> None:
    root = ET.parse(DEFAULT / "objects" / folder / "fields" / f"{field}.field-meta.xml").getroot()
    assert _text(root, "fullName") == field and _text(root, "type") == "Text"
    assert _text(root, "externalId") == "false" and _text(root, "unique") == "false"
    for sobject in sobjects:
        fields = {f["name"]: f for f in json.loads((DESCRIBES / f"{sobject}.json").read_text())["fields"]}
        described = fields[field]
        assert described["type"] == "string" and described["length"] == int(_text(root, "length") or 0)
        assert described["externalId"] is False and described["unique"] is False and described["filterable"]
        assert described["label"] == _text(root, "label")


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
    for folder, field, _ in [*FIELDS, *COMPANIONS]:
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
    assert len(files) == 7
    for path in files:
        ET.parse(path)
