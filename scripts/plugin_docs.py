"""Generate the plugin documentation from the plugins' own --about output.

* meltano-hub/<type>/<plugin>/andsend.yml: Meltano Hub plugin definitions (Hub generates
  them from `<plugin> --about --format json`; so do we), valid against Hub's own schemas
  (tests/fixtures/meltano-hub-schemas/). The distribution is not on PyPI: pip_url installs it
  from the repository (git URL).
* README.md "Configuration": the tables of `<plugin> --about --format markdown`, between the
  `<!-- about:<plugin> -->` and `<!-- /about:<plugin> -->` markers.

So both always list the settings the executables really accept. `--check` compares instead
of writing (the tests run it).

    python scripts/plugin_docs.py            # (re)write meltano-hub/ and the README tables
    python scripts/plugin_docs.py --check    # exit 1 if either is out of date
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "meltano-hub"
VARIANT = "andsend"
DIST = "andsend-salesforce-connectors"
PLUGINS = {
    "tap-andsend": {
        "type": "extractors",
        "namespace": "tap_andsend",
        "label": "Andsend",
        "domain_url": "https://andsend.com",
        "keywords": ["andsend", "prospecting", "outreach", "crm", "meltano_sdk"],
        "logo_url": "/assets/logos/extractors/andsend.png",
    },
    "target-salesforce-andsend": {
        "type": "loaders",
        "namespace": "target_salesforce_andsend",
        "label": "Salesforce (Andsend integration)",
        "domain_url": "https://www.salesforce.com",
        "keywords": ["salesforce", "crm", "andsend", "meltano_sdk"],
        "logo_url": "/assets/logos/loaders/salesforce.png",
    },
}
# Capabilities Meltano Hub accepts per plugin type (meltano.schema.json).
HUB_CAPABILITIES = {
    "extractors": {"properties", "catalog", "discover", "state", "about", "stream-maps", "activate-version",
                   "batch", "test", "log-based", "schema-flattening", "structured-logging"},
    "loaders": {"about", "stream-maps", "activate-version", "batch", "soft-delete", "hard-delete",
                "datatype-failsafe", "schema-flattening", "structured-logging"},
}  # fmt: skip


def about(executable: str) -> dict[str, Any]:
    script = Path(sys.executable).parent / executable
    proc = subprocess.run(
        [str(script), "--about", "--format", "json"], capture_output=True, text=True, timeout=120, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"{executable} --about failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def setting_kind(spec: dict[str, Any]) -> str:
    types = spec.get("type", "string")
    types = [t for t in (types if isinstance(types, list) else [types]) if t != "null"]
    kind = types[0] if types else "string"
    if "enum" in spec or any("enum" in alt for alt in spec.get("anyOf", [])):
        return "options"
    if kind == "string" and spec.get("format") == "date-time":
        return "date_iso8601"
    return {"integer": "integer", "number": "decimal", "boolean": "boolean", "array": "array",
            "object": "object"}.get(kind, "string")  # fmt: skip


def meltano_labels(name: str) -> dict[str, str]:
    """The labels meltano.yml gives a plugin's settings (where --about has no title)."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    plugin = next(p for p in project["plugins"][PLUGINS[name]["type"]] if p["name"] == name)
    return {s["name"]: s["label"] for s in plugin.get("settings", []) if s.get("label")}


def repository_url(dist: Any) -> str:
    for url in dist.get_all("Project-URL") or []:
        label, _, value = url.partition(", ")
        if label.lower() in ("repository", "source"):
            return value
    raise SystemExit("pyproject.toml [project.urls] needs a Repository URL (the Hub definitions' repo and pip_url)")


def definition(name: str) -> dict[str, Any]:
    meta = PLUGINS[name]
    info = about(name)
    # Read from the installed distribution's metadata (works on Python 3.10, which has no tomllib).
    dist = metadata.metadata(DIST)
    repo = repository_url(dist)
    labels = meltano_labels(name)
    settings = []
    for key, spec in info["settings"]["properties"].items():
        entry: dict[str, Any] = {"name": key, "kind": setting_kind(spec)}
        entry["label"] = spec.get("title") or labels.get(key) or key.replace("_", " ").capitalize()
        if spec.get("description"):
            entry["description"] = spec["description"]
        if spec.get("secret"):
            entry["sensitive"] = True
        if "default" in spec and spec["default"] is not None:
            entry["value"] = spec["default"]
        if entry["kind"] == "options":
            values = spec.get("enum") or next(a["enum"] for a in spec.get("anyOf", []) if "enum" in a)
            entry["options"] = [{"label": str(v), "value": v} for v in values if v is not None]
        settings.append(entry)
    result: dict[str, Any] = {
        "name": name,
        "namespace": meta["namespace"],
        "variant": VARIANT,
        "label": meta["label"],
        "description": info.get("description") or dist["Summary"],
        "domain_url": meta["domain_url"],
        "keywords": meta["keywords"],
        "logo_url": meta["logo_url"],
        "maintenance_status": "active",
        # Hub's maintainers rate connector quality (gold/silver/bronze) after review.
        "quality": "unknown",
        "repo": repo,
        # Not on PyPI: Meltano installs the package from the repository into the plugin's venv.
        "pip_url": f"git+{repo}.git",
        "executable": name,
        "capabilities": sorted(set(info["capabilities"]) & HUB_CAPABILITIES[meta["type"]]),
        "supported_python_versions": info.get("supported_python_versions") or [],
        "settings": settings,
    }
    result["settings_group_validation"] = settings_groups(name, info)
    return result


def settings_groups(name: str, info: dict[str, Any]) -> list[list[str]]:
    """meltano.yml's credential sets (one per sign-in flow), else the plugin's required settings."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    plugin = next(p for p in project["plugins"][PLUGINS[name]["type"]] if p["name"] == name)
    return plugin.get("settings_group_validation") or [sorted(info["settings"].get("required") or [])]


def about_markdown(executable: str) -> str:
    """The Capabilities and Settings parts of `--about --format markdown`, headings one level down."""
    script = Path(sys.executable).parent / executable
    proc = subprocess.run(
        [str(script), "--about", "--format", "markdown"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{executable} --about --format markdown failed:\n{proc.stderr[-2000:]}")
    keep: list[str] = []
    section = ""
    for line in proc.stdout.splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
            if section in ("Capabilities", "Settings"):
                keep.append(f"#### {section}")
            continue
        if line.startswith("# ") or line.startswith("A full list of supported settings"):
            continue
        if section in ("Capabilities", "Settings"):
            keep.append(line)
    text = "\n".join(keep).strip()
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text


def readme_with_tables(readme: str) -> str:
    for name in PLUGINS:
        begin, end = f"<!-- about:{name} -->", f"<!-- /about:{name} -->"
        if begin not in readme or end not in readme:
            raise SystemExit(f"README.md lacks the {begin} ... {end} markers")
        head, rest = readme.split(begin, 1)
        _, tail = rest.split(end, 1)
        readme = f"{head}{begin}\n{about_markdown(name)}\n{end}{tail}"
    return readme


def render(name: str) -> tuple[Path, str]:
    meta = PLUGINS[name]
    path = OUT / meta["type"] / name / f"{VARIANT}.yml"
    text = yaml.safe_dump(definition(name), sort_keys=False, allow_unicode=True, width=100)
    return path, text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="fail if meltano-hub/ or README.md is out of date"
    )
    args = parser.parse_args(argv)
    outputs = [render(name) for name in PLUGINS]
    readme_path = ROOT / "README.md"
    outputs.append((readme_path, readme_with_tables(readme_path.read_text())))
    stale = []
    for path, text in outputs:
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path.relative_to(ROOT)))
        elif not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("out of date (run python scripts/plugin_docs.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
