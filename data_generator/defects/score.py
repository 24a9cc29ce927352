"""Scoring any data-quality tool's findings against a dirty day's answer key (`datagen dq-score`).

A flag names a file (`vitals.csv` or `vitals`), a row (by `key`, the row's primary key, or by
`line`, validation's record number) and optionally a `column`; a flag with neither key nor line
is about a column of the whole file (schema drift). A flag hits a defect when the file and the
row agree and the columns do (a flag without a column hits every defect of its row; a column
flag on a drifted file may name the column's old or new name).

Recall per class: the share of its defects hit by at least one flag. Precision per class: of the
flags attributed to the class, the share that hit one of its defects. A flag with a `class`
column is attributed to that class; a flag without one is attributed to the classes it hits, so
per-class precision counts wrong flags only when the flags say which class they mean, and a flag
without a class that hits nothing is counted as unattributed (it lowers the overall precision).
The answer key itself is a valid flag file (precision = recall = 1).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from data_generator.defects.catch import read_truth
from data_generator.defects.profile import classes
from data_generator.errors import UsageError

FLAG_COLUMNS = ("file", "key", "line", "column", "class")


def read_flags(path: Path) -> list[dict]:
    """Flags from a CSV (header: file, key and/or line, optional column and class) or a JSONL file
    in the answer key's shape."""
    path = Path(path)
    if path.is_dir() or path.suffix == ".jsonl":
        return [{k: d.get(k) for k in FLAG_COLUMNS} for d in read_truth(path)]
    try:
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            if "file" not in header or not {"key", "line"} & set(header):
                raise UsageError(str(path), "a flag file needs a 'file' column and a 'key' or 'line' column",
                                 found=header, hint="header e.g. file,key,column[,class]")
            flags = [{k: (row.get(k) or None) for k in FLAG_COLUMNS} for row in reader]
    except FileNotFoundError:
        raise UsageError(str(path), "no such flag file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(str(path), f"cannot read the flag file: {exc}") from None
    for number, flag in enumerate(flags, start=2):
        if flag["line"] is not None:
            try:
                flag["line"] = int(flag["line"])
            except ValueError:
                raise UsageError(f"{path}:{number}", "line is not a whole number", found=flag["line"]) from None
    return flags


def _stem(file: str | None) -> str:
    return (file or "").split(".", 1)[0]


@dataclass(frozen=True)
class ClassScore:
    defects: int
    found: int       # defects hit by at least one flag
    flags: int       # flags attributed to the class
    correct: int     # of those, flags that hit a defect of the class

    @property
    def recall(self) -> float | None:
        return self.found / self.defects if self.defects else None

    @property
    def precision(self) -> float | None:
        return self.correct / self.flags if self.flags else None


@dataclass(frozen=True)
class Score:
    classes: dict[str, ClassScore]
    flags: int
    flags_hitting: int
    unattributed: int  # flags without a class that hit nothing

    @property
    def overall(self) -> ClassScore:
        return ClassScore(sum(c.defects for c in self.classes.values()), sum(c.found for c in self.classes.values()),
                          self.flags, self.flags_hitting)

    def table(self) -> list[str]:
        wide = max(len(name) for name in [*classes(), *self.classes])
        rows = [f"{'class':<{wide}} {'defects':>7} {'found':>6} {'recall':>7} {'flags':>6} {'correct':>7} "
                f"{'precision':>9}"]
        for name, c in [*self.classes.items(), ("all", self.overall)]:
            rows.append(f"{name:<{wide}} {c.defects:>7} {c.found:>6} {_ratio(c.recall):>7} {c.flags:>6} {c.correct:>7} "
                        f"{_ratio(c.precision):>9}")
        if self.unattributed:
            rows.append(f"{self.unattributed} flags without a class hit no defect (counted in the overall precision)")
        return rows

    def as_json(self) -> dict:
        def one(c: ClassScore) -> dict:
            return {"defects": c.defects, "found": c.found, "recall": c.recall, "flags": c.flags,
                    "correct": c.correct, "precision": c.precision}
        return {"classes": {name: one(c) for name, c in self.classes.items()}, "overall": one(self.overall),
                "unattributed_flags": self.unattributed}


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def score(truth: list[dict], flags: list[dict]) -> Score:
    by_row: dict[tuple, list[int]] = defaultdict(list)
    by_file: dict[str, list[int]] = defaultdict(list)
    for i, d in enumerate(truth):
        if d["line"] is None:
            by_file[_stem(d["file"])].append(i)
        else:
            by_row[(_stem(d["file"]), "key", d["key"])].append(i)
            by_row[(_stem(d["file"]), "line", d["line"])].append(i)
    found: set[int] = set()
    attributed: dict[str, list[bool]] = defaultdict(list)
    hitting = unattributed = 0
    for flag in flags:
        hits = _hits(flag, truth, by_row, by_file)
        found.update(hits)
        hitting += bool(hits)
        hit_classes = {truth[i]["class"] for i in hits}
        if flag["class"]:
            attributed[flag["class"]].append(flag["class"] in hit_classes)
        elif hits:
            for cls in hit_classes:
                attributed[cls].append(True)
        else:
            unattributed += 1
    names = [c for c in classes() if any(d["class"] == c for d in truth) or c in attributed]
    names += sorted(set(attributed) - set(names))  # a class the flags name that the key does not know
    result = {}
    for name in names:
        mine = [i for i, d in enumerate(truth) if d["class"] == name]
        result[name] = ClassScore(len(mine), len(found.intersection(mine)), len(attributed[name]),
                                  sum(attributed[name]))
    return Score(result, len(flags), hitting, unattributed)


def _hits(flag: dict, truth: list[dict], by_row: dict, by_file: dict) -> list[int]:
    file = _stem(flag["file"])
    if flag["key"] is not None:
        candidates = by_row.get((file, "key", flag["key"]), [])
    elif flag["line"] is not None:
        candidates = by_row.get((file, "line", flag["line"]), [])
    else:
        return [i for i in by_file.get(file, []) if flag["column"] in
                (truth[i]["column"], truth[i]["original"], truth[i]["new"])]
    return [i for i in candidates if not flag["column"] or truth[i]["column"] in (None, flag["column"])]
