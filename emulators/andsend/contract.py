"""The Andsend OpenAPI document, as shipped with the emulator (wheel) or in the repository (dev).

The emulator validates badge write-backs with the document's own ``Badge`` schema, so the
contract and the server cannot drift apart.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

OPENAPI_NAME = "andsend-api.openapi.yaml"


@lru_cache(maxsize=1)
def openapi_text() -> str:
    packaged = resources.files("emulators.andsend").joinpath(OPENAPI_NAME)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    repo_copy = Path(__file__).resolve().parents[2] / "schemas" / OPENAPI_NAME
    return repo_copy.read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    return yaml.safe_load(openapi_text())


@lru_cache(maxsize=1)
def badge_validator() -> Draft202012Validator:
    return Draft202012Validator(openapi_document()["components"]["schemas"]["Badge"])


@lru_cache(maxsize=1)
def crm_status_validator() -> Draft202012Validator:
    return Draft202012Validator(openapi_document()["components"]["schemas"]["CrmStatus"])
