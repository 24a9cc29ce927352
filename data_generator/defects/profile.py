"""A defect profile and its catalogue: found by name or path, checked against their schemas, then
against the contracts (every file and column they name exists, and is of a type the kind can
change; on a feed day, the feed contracts').

The classes and their kinds are those of `schemas/defect_profile.schema.json` (`CLASSES`), so the
schema a profile is checked against and the engine's list of kinds cannot drift apart.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from data_generator.config import SCHEMA_DIR, load_checked
from data_generator.contracts import FEED_FILES, FILES, OPTIONAL, column_type, load_contract, load_feed_contract
from data_generator.errors import ConfigError

PROFILE_SCHEMA = "defect_profile.schema.json"
CATALOGUE_SCHEMA = "defect_catalogue.schema.json"
PROFILE_FOLDER = "defects"  # beside generator.yaml: config/defects/<name>.yaml


@cache
def classes() -> dict[str, tuple[str, ...]]:
    """{class: its kinds}, in the order the engine applies them, as the profile schema lists them."""
    schema = json.loads((SCHEMA_DIR / PROFILE_SCHEMA).read_text(encoding="utf-8"))
    return {cls: tuple(spec["properties"]) for cls, spec in schema["properties"]["rates"]["properties"].items()}


def class_of(kind: str) -> str:
    return next(cls for cls, kinds in classes().items() if kind in kinds)


@dataclass(frozen=True)
class Profile:
    """A checked profile: `rates` {kind: rate} for the kinds it switches on (rate > 0)."""

    name: str
    path: Path
    description: str
    rates: dict[str, float]
    catalogue: dict
    digest: str  # of the rates and the catalogue: a dirty day made from the same digest is up to date


def profile_path(spec: str | Path, config_dir: Path) -> Path:
    """A profile by name (`realistic` -> <config_dir>/defects/realistic.yaml) or by path."""
    text = str(spec)
    if "/" in text or text.endswith((".yaml", ".yml")):
        return Path(text)
    return Path(config_dir) / PROFILE_FOLDER / f"{text}.yaml"


def shipped_profiles(config_dir: Path) -> list[str]:
    return sorted(p.stem for p in (Path(config_dir) / PROFILE_FOLDER).glob("*.yaml"))


def load_profile(spec: str | Path, config_dir: Path = Path("config")) -> Profile:
    """The profile named or pointed to by `spec`, with its catalogue; ConfigError (exit 3) naming
    the file and key of the first problem."""
    path = profile_path(spec, config_dir)
    if not path.is_file():
        names = ", ".join(shipped_profiles(config_dir)) or "none found"
        raise ConfigError(str(path), "no such defect profile",
                          hint=f"name one in {Path(config_dir) / PROFILE_FOLDER} ({names}) or give a YAML file's path")
    data = load_checked(path, PROFILE_SCHEMA)
    cat_path = path.parent / data["catalogue"]
    if not cat_path.is_file():
        raise ConfigError(f"{path}: catalogue", "file not found", found=str(cat_path),
                          hint="a path relative to the profile, e.g. ../reference/defects.yaml")
    catalogue = load_checked(cat_path, CATALOGUE_SCHEMA)
    check_catalogue(catalogue, cat_path)
    rates = {kind: float(rate) for cls, kinds in classes().items()
             for kind in kinds if (rate := data["rates"].get(cls, {}).get(kind, 0)) > 0}
    digest = hashlib.sha256(json.dumps({"rates": rates, "catalogue": catalogue}, sort_keys=True).encode()).hexdigest()
    return Profile(path.stem, path, data["description"], rates, catalogue, digest)


def check_catalogue(cat: dict, where: Path) -> None:
    """Every file and column the catalogue names is in the contracts, with a type its kind can change."""
    numeric = ("integer", "number")
    dup = cat["duplicates"]
    for i, file in enumerate(dup["exact_row_files"]):
        _file(file, where, f"duplicates.exact_row_files.{i}")
    for i, col in enumerate(dup["near_duplicate_patient"]["typo_columns"]):
        _column("patients", col, where, f"duplicates.near_duplicate_patient.typo_columns.{i}")
    for i, mix in enumerate(cat["unit_mixup"]):
        at = f"unit_mixup.{i}"
        _column(mix["file"], mix["column"], where, f"{at}.column", ("number",))
        if "unit_column" in mix:
            _column(mix["file"], mix["unit_column"], where, f"{at}.unit_column", ("string",))
        _where(mix, where, at)
    for i, pair in enumerate(cat["swapped_values"]["pairs"]):
        for j, col in enumerate(pair["columns"]):
            _column(pair["file"], col, where, f"swapped_values.pairs.{i}.columns.{j}", numeric)
    for kind in ("decimal_shift", "digit_transposition"):
        for i, cell in enumerate(cat["swapped_values"][kind]["columns"]):
            _column(cell["file"], cell["column"], where, f"swapped_values.{kind}.columns.{i}.column", numeric)
            _where(cell, where, f"swapped_values.{kind}.columns.{i}")
    for kind in ("mcar", "mar", "mnar"):
        for i, cell in enumerate(cat["missingness"][kind]):
            at = f"missingness.{kind}.{i}"
            _column(cell["file"], cell["column"], where, f"{at}.column",
                    numeric if {"above", "below"} & set(cell) else None)
            _where(cell, where, at)
            if "given" in cell:
                _column(cell["file"], cell["given"]["column"], where, f"{at}.given.column")
    for i, file in enumerate(cat["time"]["out_of_order_files"]):
        _file(file, where, f"time.out_of_order_files.{i}")
    _check_late_or_corrected(cat["late_or_corrected"], where)
    _column(cat["text"]["file"], cat["text"]["column"], where, "text.column", ("string",))
    low, high = cat["text"]["truncated_keep"]
    if low > high:
        raise ConfigError(f"{where}: text.truncated_keep", "low end above high end", found=[low, high],
                          hint="write it as [low, high]")
    for file, renames in cat["schema_drift"]["renamed"].items():
        for col, new in renames.items():
            _column(file, col, where, f"schema_drift.renamed.{file}.{col}")
            if new in _file(file, where, f"schema_drift.renamed.{file}")["properties"]:
                raise ConfigError(f"{where}: schema_drift.renamed.{file}.{col}", "new name is already a column",
                                  found=new, hint="rename to a name the contract does not use")
    for i, extra in enumerate(cat["schema_drift"]["extra_columns"]):
        taken = [f for f in FILES + OPTIONAL + FEED_FILES if extra["name"] in _contract(f)["properties"]]
        if taken:
            raise ConfigError(f"{where}: schema_drift.extra_columns.{i}.name", f"is a column of {taken[0]}",
                              found=extra["name"], hint="an extra column must be one no contract has")


def _check_late_or_corrected(spec: dict, where: Path) -> None:
    """Feed-day kinds: their files and columns are the feed contracts'."""
    for file in spec["late_arrival"]:
        at = f"late_or_corrected.late_arrival.{file}"
        _column(file, spec["delivery_column"], where, at, ("date",), feed=True)
        _column(file, spec["late_arrival"][file], where, at, ("date-time",), feed=True)
    fix, at = spec["corrected_result"], "late_or_corrected.corrected_result"
    for key in ("first_reported", "corrected_at"):
        _column(fix["file"], fix[key], where, f"{at}.{key}", ("date-time",), feed=True)
    _column(fix["file"], fix["value"], where, f"{at}.value", feed=True)
    _column(fix["file"], fix["status_column"], where, f"{at}.status_column", ("string",), feed=True)
    if "corrected" not in load_feed_contract(fix["file"])["properties"][fix["status_column"]].get("x-meaning", {}):
        raise ConfigError(f"{where}: {at}.status_column", "the feed contract names no corrected code for it "
                          "(x-meaning: corrected)", found=fix["status_column"], hint="name the result status column")


def _contract(file: str, feed: bool = False) -> dict:
    """A file's contract: the batch one, or the feed's (a feed-only file, or `feed`)."""
    return load_feed_contract(file) if feed or file not in FILES + OPTIONAL else load_contract(file)


def _file(file: str, where: Path, key: str, feed: bool = False) -> dict:
    known = FEED_FILES if feed else FILES + OPTIONAL + tuple(f for f in FEED_FILES if f not in FILES)
    if file not in known:  # the schema's enum says so too; kept for a clear message
        raise ConfigError(f"{where}: {key}", "no such contract", found=file, hint=", ".join(known))
    return _contract(file, feed)


def _column(file: str, col: str, where: Path, key: str, types: tuple[str, ...] | None = None,
            feed: bool = False) -> None:
    props = _file(file, where, key, feed)["properties"]
    if col not in props:
        raise ConfigError(f"{where}: {key}", f"no column {col!r} in the {file} contract", found=col,
                          hint="columns: " + ", ".join(props))
    if types and column_type(props[col]) not in types:
        raise ConfigError(f"{where}: {key}", f"{file}.{col} is {column_type(props[col])}, this defect needs "
                          + " or ".join(types), found=col)


def _where(cell: dict, where: Path, at: str) -> None:
    for col in cell.get("where", {}):
        _column(cell["file"], col, where, f"{at}.where.{col}")
