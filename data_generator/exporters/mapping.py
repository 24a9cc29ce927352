"""What the exporters' mapping files (fhir.yaml, omop.yaml) share: every measurement column of
vitals.csv is mapped or listed as not exported, and nothing else is."""

from __future__ import annotations

from pathlib import Path

from data_generator.contracts import load_contract
from data_generator.errors import ConfigError

VITAL_KEYS = ("vital_id", "encounter_id", "patient_id", "event_time")  # vitals.csv columns that are not measurements


def check_vital_columns(path: Path, where: str, mapped: list[str], not_exported: list[str]) -> None:
    """`mapped` and `not_exported` together are exactly vitals.csv's measurement columns."""
    vitals = load_contract("vitals")["properties"]
    unmapped = [c for c in vitals if c not in VITAL_KEYS and c not in mapped and c not in not_exported]
    unknown = [c for c in not_exported if c not in vitals]
    if unmapped or unknown:
        raise ConfigError(f"{path}: {where}", "vitals.csv columns and the mapping disagree",
                          found={"unmapped": unmapped, "unknown_not_exported": unknown},
                          hint="map every measurement column or list it in vitals_not_exported with a reason")
