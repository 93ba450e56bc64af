"""The files the setup page edits: the catalog file and the plugin settings (meltano.yml or a config JSON).

meltano.yml is edited with ruamel.yaml's round-trip mode, so comments, key order, quoting and
flow style of everything the page does not change come back byte for byte. Every write is
atomic (temporary file + rename) and shown first as a unified diff.
"""

from __future__ import annotations

import difflib
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

PLUGIN = "target-salesforce-andsend"
CATALOG_HEADER = ("Field-mapping catalog of target-salesforce-andsend, edited with `target-salesforce-andsend setup`\n"
                  "(schema: schemas/mapping-catalog.schema.json; check it with `mapping validate`).")


def _meltano_yaml() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap a line the page did not change
    y.indent(mapping=2, sequence=2, offset=0)
    return y


def _catalog_yaml() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096  # one line per entry, as a reviewer reads a diff
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def _dump(y: YAML, doc: Any) -> str:
    buf = io.StringIO()
    y.dump(doc, buf)
    return buf.getvalue()


@dataclass
class FileChange:
    path: Path
    old: str | None        # None: the file does not exist yet
    new: str

    @property
    def changed(self) -> bool:
        return self.old != self.new

    def diff(self) -> str:
        return "".join(difflib.unified_diff(
            (self.old or "").splitlines(keepends=True), self.new.splitlines(keepends=True),
            fromfile=f"{self.path} (now)" if self.old is not None else "/dev/null",
            tofile=f"{self.path} (after Save)"))


def write_atomic(path: Path, text: str, *, private: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        elif private:
            os.chmod(tmp, 0o600)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ------------------------------------------------------------------------------------ meltano.yml


def _find_named(seq: Any, name: str) -> CommentedMap | None:
    if isinstance(seq, list):
        for item in seq:
            if isinstance(item, dict) and item.get("name") == name:
                return item
    return None


def _child_map(parent: CommentedMap, key: str, *, after: tuple[str, ...] = ()) -> CommentedMap:
    """parent[key] as a mapping, created (after the first present key of ``after``) when missing."""
    node = parent.get(key)
    if isinstance(node, CommentedMap):
        return node
    node = CommentedMap()
    keys = list(parent.keys())
    pos = len(keys)
    for anchor in after:
        # not after a key that carries comment lines: they would end up above the new key
        if anchor in keys and not parent.ca.items.get(anchor):
            pos = keys.index(anchor) + 1
            break
    parent.insert(pos, key, node)
    return node


def plugin_config(doc: CommentedMap, environment: str | None) -> CommentedMap:
    """The config mapping the settings go to: the loader's own, or that of one environment."""
    if environment is None:
        loader = _find_named((doc.get("plugins") or {}).get("loaders"), PLUGIN)
        if loader is None:
            raise ValueError(f"meltano.yml has no loader named {PLUGIN}")
        return _child_map(loader, "config", after=("description", "label", "executable", "namespace", "name"))
    env = _find_named(doc.get("environments"), environment)
    if env is None:
        raise ValueError(f"meltano.yml has no environment named {environment}")
    plugins = _child_map(_child_map(env, "config"), "plugins")
    loaders = plugins.get("loaders")
    if not isinstance(loaders, CommentedSeq):
        loaders = CommentedSeq()
        plugins["loaders"] = loaders
    loader = _find_named(loaders, PLUGIN)
    if loader is None:
        loader = CommentedMap([("name", PLUGIN)])
        loaders.append(loader)
    return _child_map(loader, "config")


def meltano_settings(text: str, environment: str | None) -> dict[str, Any]:
    """The settings written in meltano.yml at that level (not Meltano's merged view)."""
    doc = _meltano_yaml().load(text)
    try:
        return dict(plugin_config(doc, environment))
    except ValueError:
        return {}


def update_meltano(text: str, updates: dict[str, Any], environment: str | None) -> str:
    """meltano.yml with ``updates`` set in the plugin's config (a None value removes the key)."""
    current = meltano_settings(text, environment)
    if all((k not in current) if v is None else (k in current and current[k] == v) for k, v in updates.items()):
        return text  # nothing to change: not even an empty `config:` is added
    y = _meltano_yaml()
    doc = y.load(text)
    config = plugin_config(doc, environment)
    for key, value in updates.items():
        if value is None:
            config.pop(key, None)
        elif config.get(key) != value or key not in config:
            config[key] = value
    return _dump(y, doc)


# ------------------------------------------------------------------------------------ config JSON


def update_config_json(text: str | None, updates: dict[str, Any]) -> str:
    config = json.loads(text) if text and text.strip() else {}
    for key, value in updates.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    return json.dumps(config, indent=2, ensure_ascii=False) + "\n"


# ------------------------------------------------------------------------------------ catalog


def _flow(value: Any) -> Any:
    if isinstance(value, dict):
        node = CommentedMap((k, _flow(v)) for k, v in value.items())
        node.fa.set_flow_style()
        return node
    if isinstance(value, list):
        seq = CommentedSeq(_flow(v) for v in value)
        seq.fa.set_flow_style()
        return seq
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


_ENTRY_ORDER = ("source", "object", "field", "policy", "transform", "on_overlength", "description")


def _ordered(entry: dict) -> dict:
    return {**{k: entry[k] for k in _ENTRY_ORDER if k in entry}, **entry}


def render_catalog(old_text: str | None, document: dict) -> str:
    """The catalog file for ``document``: entries unchanged since ``old_text`` keep their text and
    comments (round trip); new or edited ones are written one flow-style line each."""
    y = _catalog_yaml()
    old = y.load(old_text) if old_text and old_text.strip() else None
    if not isinstance(old, CommentedMap):
        old = CommentedMap()
        old.yaml_set_start_comment(CATALOG_HEADER)
    old_seq = old.get("mappings") if isinstance(old.get("mappings"), CommentedSeq) else CommentedSeq()
    by_value = {json.dumps(_plain(e), sort_keys=True): i for i, e in enumerate(old_seq)}
    seq = CommentedSeq()
    for entry in document["mappings"]:
        index = by_value.get(json.dumps(_plain(entry), sort_keys=True))
        if index is None:
            seq.append(_flow(_ordered(entry)))
            continue
        seq.append(old_seq[index])
        if index in old_seq.ca.items:  # the comment lines after an entry travel with it
            seq.ca.items[len(seq) - 1] = old_seq.ca.items[index]
    old["object_mode"] = document["object_mode"]
    old["mappings"] = seq
    return _dump(y, old)


def read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
