"""NDJSON rendered a column at a time: a resource written once as a JSON template whose slots
are filled from whole pyarrow string columns, so millions of rows become lines without a
Python loop per row.

    Template({"id": S("id"), "valueQuantity": {"value": R("value")}}).render({"id": ..., "value": ...})

`S` marks a slot for string content (already escaped for JSON), `R` one for a whole JSON value
given as text, `M` optional members; a null slot gives a null line, which `ndjson` drops.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_TEXT, _RAW, _MEMBER = "\ue000", "\ue002", "\ue004"   # private-use marks, never in real data
_SLOTS = re.compile(',"\ue004(\\w+)":null|"\ue002(\\w+)\ue003"|\ue000(\\w+)\ue001')


def S(name: str) -> str:
    """A slot for JSON-escaped string content, inside its quotes ("Patient/<S>")."""
    return f"{_TEXT}{name}\ue001"


def R(name: str) -> str:
    """A slot for a whole JSON value (a number, an object) given as text."""
    return f"{_RAW}{name}\ue003"


def M(name: str) -> dict:
    """Optional members: `**M("x")` after another member; the slot is ',"k":v,...' or ''."""
    return {f"{_MEMBER}{name}": None}


class Template:
    """A JSON text with slots, rendered for whole columns at once (null slot -> null line)."""

    def __init__(self, obj: Any, members: bool = False):
        text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
        if members:
            text = "," + text[1:-1]
        parts = _SLOTS.split(text)
        self.pieces: list[tuple[bool, str]] = []   # (is_slot, constant text or slot name)
        for i, part in enumerate(parts):
            if i % 4 == 0:
                if _MEMBER in part or _RAW in part or _TEXT in part:
                    raise ValueError(f"misplaced template slot in {part!r}")
                if part:
                    self.pieces.append((False, part))
            elif part is not None:
                self.pieces.append((True, part))

    def render(self, slots: dict[str, pa.Array]) -> pa.Array:
        args = [slots[p] if is_slot else p for is_slot, p in self.pieces]
        return pc.binary_join_element_wise(*args, "")


def optional(members: pa.Array) -> pa.Array:
    """A member slot's value: the rendered members, or '' where they are null."""
    return pc.fill_null(members, "")


def ndjson(lines: pa.Array) -> bytes:
    """The non-null lines (each already ending in a newline) as one bytes object."""
    lines = pc.drop_null(lines)
    if len(lines) == 0:
        return b""
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset:]
    return lines.buffers()[2].to_pybytes()[offsets[0]:offsets[len(lines)]]


def lookup(values: pa.Array, fn: Callable[[str], str]) -> pa.Array:
    """`fn` applied once per distinct value, spread back over the column (null stays null)."""
    encoded = pc.dictionary_encode(values)
    mapped = pa.array([fn(v) for v in encoded.dictionary.to_pylist()], pa.string())
    return pc.take(mapped, encoded.indices)
