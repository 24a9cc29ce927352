"""The one config loader: parse YAML, check it against its JSON Schema, then cross-check.

`load_config(path)` reads `generator.yaml`, the reference catalogues it names (vitals, labs,
note templates, interventions) and every scenario in its scenario folder. Every schema error in a file is
collected with its key path before anything is raised; cross-references (a trigger naming a
vital that does not exist, a weight for a missing scenario) are checked in a second pass.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema_rs
import yaml

from data_generator import config_cache, crosscheck, note_context
from data_generator.errors import ConfigError
from data_generator.timeutil import zone

SCHEMA_DIR = Path(__file__).parent / "schemas"
DEFAULT_CONFIG = Path("config/generator.yaml")


@dataclass(frozen=True)
class Config:
    """Everything a run needs from config/, validated."""

    path: Path
    generator: dict[str, Any]
    scenarios: dict[str, dict[str, Any]]
    vitals: dict[str, Any]
    labs: dict[str, Any]
    notes: dict[str, Any]
    digest: str
    tz: ZoneInfo = field(repr=False)
    interventions: dict[str, Any] = field(default_factory=dict)  # treatments catalogue

    @property
    def seed(self) -> int:
        return int(self.generator["seed"])

    @property
    def start_date(self) -> dt.date:
        return dt.date.fromisoformat(str(self.generator["registry"]["start_date"]))


@cache
def _validator(schema_name: str) -> jsonschema_rs.Validator:
    schema = json.loads((SCHEMA_DIR / schema_name).read_text())
    common = json.loads((SCHEMA_DIR / "common.schema.json").read_text())
    registry = jsonschema_rs.Registry([(common["$id"], common)])
    return jsonschema_rs.validator_for(schema, validate_formats=True, registry=registry)


YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's safe loader where present: 8x faster


def read_yaml(path: Path) -> Any:
    """Parse one YAML file; a syntax error names the file and line."""
    return _parse_yaml(path, _read_bytes(path))


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(str(path), "file not found",
                          hint="pass --config PATH to a generator.yaml") from None
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read file: {exc}") from None


def _parse_yaml(path: Path, raw: bytes, seen: dict[Path, str] | None = None) -> Any:
    """`raw`, the bytes of file `path`, parsed; `seen` records their SHA-256 by path."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), f"cannot read file: {exc}") from None
    if seen is not None:
        seen[path] = config_cache.digest(raw)
    try:
        return yaml.load(text, Loader=YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(where, f"invalid YAML: {problem}") from None


def key_path(parts: list) -> str:
    return ".".join(str(p) for p in parts) or "(top level)"


def check_schema(data: Any, schema_name: str, where: Path) -> None:
    """Raise one ConfigError listing every schema violation, each with its key path."""
    errors = sorted(_validator(schema_name).iter_errors(_jsonable(data)),
                    key=lambda e: [str(p) for p in e.instance_path])
    if errors:
        first = errors[0]
        more = f" (+{len(errors) - 1} more: " + "; ".join(
            f"{key_path(e.instance_path)}: {_message(e)}" for e in errors[1:4]) + ")" \
            if len(errors) > 1 else ""
        raise ConfigError(f"{where}: {key_path(first.instance_path)}", _message(first) + more)


def _message(error) -> str:
    """The validator's message, with an enum's allowed values listed (up to 8, then +N more)
    instead of 'or 6 other candidates'."""
    kind = error.kind
    inner = getattr(getattr(kind, "error", None), "kind", None)  # property names checked against an enum
    options = getattr(kind, "options", None) or getattr(inner, "options", None)
    if not isinstance(options, list) or "other candidates" not in error.message:
        return error.message
    shown = ", ".join(json.dumps(o) for o in options[:8]) + (f" +{len(options) - 8} more" if len(options) > 8 else "")
    return f"{error.message.split(' is not one of')[0]} is not one of {shown}"


def _jsonable(data: Any) -> Any:
    """YAML dates and non-string keys as JSON would see them (so schemas can check them)."""
    if isinstance(data, dict):
        return {str(k): _jsonable(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_jsonable(v) for v in data]
    if isinstance(data, dt.date):
        return data.isoformat()
    return data


def load_checked(path: Path, schema_name: str, seen: dict[Path, str] | None = None,
                 raw: bytes | None = None) -> dict[str, Any]:
    """One YAML file (or its bytes `raw`), parsed and checked against `schemas/<schema_name>`
    (every error collected); `seen` as for `_parse_yaml`."""
    data = _parse_yaml(path, _read_bytes(path) if raw is None else raw, seen)
    if not isinstance(data, dict):
        raise ConfigError(str(path), "expected a mapping at the top level", found=type(data).__name__)
    data = _jsonable(data)
    check_schema(data, schema_name, path)
    check_ranges(data, path)
    return data


RANGE_KEYS = re.compile(r"(_hours|_minutes|_days|^clip|^ref|^critical|^target_spo2|^oxygen_target)$")


def check_ranges(data: Any, where: Path, path: tuple = ()) -> None:
    """Every [low, high] pair (a key ending in _hours, _minutes or _days, clip, ref, critical, an SpO2
    target) has its low end at or below its high end: a reversed pair is a config error here,
    not a failure deep in a random draw."""
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        here = (*path, key)
        if (isinstance(key, str) and RANGE_KEYS.search(key) and isinstance(value, list) and len(value) == 2
                and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
                and value[0] > value[1]):
            raise ConfigError(f"{where}: {key_path(list(here))}", "low end above high end", found=value,
                              hint="write it as [low, high]")
        check_ranges(value, where, here)


def load_config(path: Path | str = DEFAULT_CONFIG) -> Config:
    """The config of generator.yaml `path` and the files it names, checked; kept in
    config_cache between runs, and taken from there while none of its files has changed."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(str(path), "is a folder", hint="pass the generator.yaml file itself")
    raw = _read_bytes(path)
    data = config_cache.get(path, raw)
    if data is None:
        data = _load_and_check(path, raw)
    else:
        note_context.use_compiled_code(data["templates"])  # compiled by the checks that passed
    generator, scenarios = data["generator"], data["scenarios"]
    scen_dir = path.parent / generator["scenarios"]["directory"]
    for name, scenario in scenarios.items():
        scenario["_file"] = str(scen_dir / f"{name}.yaml")
    tz = zone(generator["hospital"]["timezone"], f"{path}: hospital.timezone")
    return Config(path, generator, scenarios, data["vitals"], data["labs"], data["notes"], data["digest"], tz,
                  data["interventions"])


def _load_and_check(path: Path, raw: bytes) -> dict[str, Any]:
    """Every file of the config parsed, checked against its schema and cross-checked; stored in
    the cache when it passes."""
    seen: dict[Path, str] = {}
    generator = load_checked(path, "generator_config.schema.json", raw=raw)
    base = path.parent
    ref = generator["reference"]
    vitals = load_checked(base / ref["vitals"], "vitals_catalogue.schema.json", seen)
    labs = load_checked(base / ref["labs"], "labs_catalogue.schema.json", seen)
    notes = load_checked(base / ref["notes"], "notes_catalogue.schema.json", seen)
    interventions = load_checked(base / ref["interventions"], "interventions_catalogue.schema.json", seen)
    scen_dir = base / generator["scenarios"]["directory"]
    if not scen_dir.is_dir():
        raise ConfigError(f"{path}: scenarios.directory", "folder not found", found=str(scen_dir))
    scenarios = {}
    for file in sorted(scen_dir.glob("*.yaml")):
        scenario = load_checked(file, "scenario.schema.json", seen)
        scenario["_file"] = str(file)
        scenarios[file.stem] = scenario
    zone(generator["hospital"]["timezone"], f"{path}: hospital.timezone")
    # second pass, after every file parsed cleanly
    crosscheck.check(path, generator, scenarios, vitals, labs, notes, interventions)
    crosscheck.check_interventions(generator, scenarios, vitals, labs, interventions)
    digest = hashlib.sha256(json.dumps(
        {"generator": generator, "vitals": vitals, "labs": labs, "notes": notes,
         "interventions": interventions,
         "scenarios": {k: {kk: vv for kk, vv in v.items() if kk != "_file"}
                       for k, v in scenarios.items()}},
        sort_keys=True, default=str).encode()).hexdigest()
    data = {"generator": generator, "scenarios": scenarios, "vitals": vitals, "labs": labs, "notes": notes,
            "interventions": interventions, "digest": digest, "templates": note_context.compiled_code()}
    config_cache.put(path, raw, seen, scen_dir, data)
    return data
