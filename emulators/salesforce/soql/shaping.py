"""Shaping: result rows -> records as the REST API returns them (``attributes``, nested relationship
records, typed values). The plan is computed once per compiled query; ``shape`` runs per row."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .compound import COMPOUND_TYPES, decode_compound

if TYPE_CHECKING:
    from .compiler import Column, Node

def _convert(ftype: str) -> Callable[[Any], Any] | None:
    if ftype in COMPOUND_TYPES:
        return decode_compound
    if ftype == "boolean":
        return lambda v: None if v is None else bool(v)
    if ftype in ("int", "long"):
        return lambda v: None if v is None else int(v)
    if ftype in ("double", "currency", "percent"):
        return lambda v: None if v is None else float(v)
    return None


def make_shaper(
    sobject: str, columns: list[Column], nodes: dict[tuple[str, ...], Node], base_id_index: int,
    node_id_index: dict[tuple[str, ...], list[int]],
) -> Callable[[Sequence[Any], str], dict[str, Any]]:
    # Precompute per column: the node chain it lives under and its value converter.
    plan: list[tuple[int, tuple[tuple[str, ...], ...], str, Callable[[Any], Any] | None]] = []
    for i, col in enumerate(columns):
        chain = tuple(col.node[:k] for k in range(1, len(col.node) + 1))
        plan.append((i, chain, col.field["name"], _convert(col.field["type"])))
    node_info = {
        key: (nodes[key].canonical[-1], [t.name for t in nodes[key].targets], node_id_index[key],
              nodes[key].polymorphic)
        for key in node_id_index
    }

    def shape(row: Sequence[Any], version: str) -> dict[str, Any]:
        base_id = row[base_id_index]
        rec: dict[str, Any] = {
            "attributes": {"type": sobject, "url": f"/services/data/{version}/sobjects/{sobject}/{base_id}"}
        }
        made: dict[tuple[str, ...], dict[str, Any] | None] = {(): rec}
        for i, chain, name, conv in plan:
            target: dict[str, Any] | None = rec
            for key in chain:
                if key in made:
                    target = made[key]
                else:
                    rel_name, types, id_idx, polymorphic = node_info[key]
                    parent = target
                    rid, rtype = None, None
                    for obj, j in zip(types, id_idx, strict=True):
                        if row[j] is not None:
                            rid, rtype = row[j], obj
                            break
                    if parent is None or rid is None:
                        target = None
                    else:
                        target = {
                            # Salesforce: a polymorphic relationship's record has type "Name"; the url
                            # names the real object.
                            "attributes": {"type": "Name" if polymorphic else rtype,
                                           "url": f"/services/data/{version}/sobjects/{rtype}/{rid}"}
                        }
                    if parent is not None:
                        parent[rel_name] = target
                    made[key] = target
                if target is None:
                    break
            if target is None:
                continue
            v = row[i]
            target[name] = conv(v) if conv is not None and v is not None else v
        return rec

    return shape
