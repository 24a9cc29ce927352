"""Which injected defects the contracts catch: the validator's violations of a dirty day matched
to its answer key (`datagen validate` on a `<date>.dirty/` folder).

A defect of a cell is caught when a violation is reported on its line for its column, for the
whole row, or by a rule that reads its column (a row rule, a reference); an added row (a
duplicate) when its line breaks a key's uniqueness or is referenced by nothing; a schema drift is
caught when the file's header (or a JSONL line's keys) is reported for the column's old or new
name. Violations that match no defect are knock-on effects (events of an encounter whose
discharge moved fall outside its window, every line of a JSONL file missing a dropped key).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from data_generator.contracts import Violation
from data_generator.defects.engine import TRUTH
from data_generator.defects.profile import classes
from data_generator.errors import UsageError

HEADER_RULES = {"missing_column", "extra_column", "column_order"}
ROW_RULES = {"unique", "unreferenced"}  # rules about a whole row: what catches an added row


def read_truth(path: Path) -> list[dict]:
    """The lines of an answer key (`_defects.jsonl`), or of the folder holding one."""
    path = Path(path)
    if path.is_dir():
        path = path / TRUTH
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        raise UsageError(str(path), "no such answer key", hint=f"give a dirty day folder or its {TRUTH}") from None
    except (OSError, ValueError) as exc:
        raise UsageError(str(path), f"not an answer key: {exc}", hint=f"give a {TRUTH} that --defects wrote") from None


@dataclass(frozen=True)
class Caught:
    """Per kind: (class, kind) -> [injected, caught]; and violations tied to no defect."""

    by_kind: dict[tuple[str, str], list[int]]
    unmatched: int

    def lines(self) -> list[str]:
        injected = sum(n for n, _ in self.by_kind.values())
        caught = sum(c for _, c in self.by_kind.values())
        wide = max(len(cls) for cls in classes())
        out = [f"injected defects ({TRUTH}): {injected}, caught by the contracts: {caught}",
               f"  {'class':<{wide}} {'kind':<23} {'injected':>8} {'caught':>7}"]
        for (cls, kind), (n, c) in self.by_kind.items():
            out.append(f"  {cls:<{wide}} {kind:<23} {n:>8} {c:>7}" + ("" if n == c else f"  ({n - c} not seen)"))
        out.append(f"violations tied to no injected defect (knock-on effects): {self.unmatched}")
        return out


def catch_report(truth: list[dict], violations: list[Violation]) -> Caught:
    at_line: dict[tuple[str, int], list[int]] = defaultdict(list)
    header: dict[str, list[int]] = defaultdict(list)
    for i, v in enumerate(violations):
        if v.rule in HEADER_RULES:
            header[v.file].append(i)
        if v.line is not None:
            at_line[(v.file, v.line)].append(i)
    order = [(cls, kind) for cls, kinds in classes().items() for kind in kinds]
    by_kind = {pair: [0, 0] for pair in order if any((d["class"], d["kind"]) == pair for d in truth)}
    used: set[int] = set()
    for d in truth:
        if d["line"] is None:
            hits = [i for i in header[d["file"]] if violations[i].field in (d["column"], d["original"], d["new"])]
        else:
            hits = [i for i in at_line[(d["file"], d["line"])] if _reads(violations[i], d["column"])]
        by_kind[(d["class"], d["kind"])][0] += 1
        by_kind[(d["class"], d["kind"])][1] += bool(hits)
        used.update(hits)
    return Caught(by_kind, len(violations) - len(used))


def _reads(v: Violation, column: str | None) -> bool:
    """The violation is about this column of its row (or, for a defect of a whole row, about the row)."""
    if column is None:
        return v.rule in ROW_RULES
    if v.field is None:
        return True
    return column in re.split(r"[,|]", v.field) or (v.rule == "row_rule" and column in v.detail.split())
