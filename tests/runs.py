"""Helpers for tests that compare generated days: run a day under an edited config copy, read it back.

Files are read with pandas (a separate code path from the generator's arrays); timestamps are
parsed from their RFC 3339 text, so a test sees exactly what a consumer of the files would.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from data_generator.config import load_config
from data_generator.pipeline import generate_day
from tests.conftest import DAY, copy_config

DATA_FILES = ("patients.csv", "encounters.csv", "vitals.csv", "labs.csv", "notes.jsonl")


def config_copy(folder: Path, edit: Callable[[dict], None] | None = None,
                edit_files: Callable[[Path], None] | None = None) -> Path:
    """config/ copied into `folder`; `edit(generator_dict)` changes generator.yaml and
    `edit_files(config_dir)` may change any other file. Returns the generator.yaml path."""
    path = copy_config(folder, edit)
    if edit_files is not None:
        edit_files(path.parent)
    return path


def run_day(folder: Path, edit: Callable[[dict], None] | None = None, date: dt.date = DAY,
            encounters: int | None = 30, mode: str = "sample",
            edit_files: Callable[[Path], None] | None = None, **kwargs) -> Path:
    """Generate and publish one day under an edited copy of config/ in `folder`; its day folder."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = load_config(config_copy(folder, edit, edit_files))
    out = folder / "out"
    out.mkdir(exist_ok=True)
    if mode == "raw":
        kwargs.setdefault("registry_path", folder / "patients_master.csv")
    return generate_day(cfg, date, mode, out, encounters=encounters, **kwargs).folder


def read_day(folder: Path) -> dict[str, pd.DataFrame]:
    """The five files as DataFrames; IDs and codes as text, timestamps also parsed to UTC (`*_utc`)."""
    text = {"patient_id": str, "mrn": str, "zip": str, "encounter_id": str, "vital_id": str, "lab_id": str,
            "note_id": str, "loinc_code": str, "value_text": str, "consciousness": str, "o2_device": str}
    tables = {
        "patients": pd.read_csv(folder / "patients.csv", dtype=str, keep_default_na=False),
        "encounters": pd.read_csv(folder / "encounters.csv", dtype=text),
        "vitals": pd.read_csv(folder / "vitals.csv", dtype=text),
        "labs": pd.read_csv(folder / "labs.csv", dtype=text),
        "notes": _notes(folder / "notes.jsonl"),
    }
    for df in tables.values():
        for col in ("admit_time", "discharge_time", "event_time", "result_time", "note_time"):
            if col in df:
                df[f"{col}_utc"] = pd.to_datetime(df[col], utc=True, format="ISO8601")
    return tables


def _notes(path: Path) -> pd.DataFrame:
    if not path.read_text(encoding="utf-8").strip():
        return pd.DataFrame(columns=["note_id", "encounter_id", "patient_id", "note_time", "note_type", "author",
                                     "text"])
    return pd.read_json(path, lines=True, dtype=False)


def file_bytes(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in DATA_FILES}


def local_clock(stamps: pd.Series) -> pd.Series:
    """Local wall-clock hour as a fraction (the text before the UTC offset), e.g. 13.5 for 13:30."""
    hh, mm, ss = stamps.str[11:13].astype(int), stamps.str[14:16].astype(int), stamps.str[17:19].astype(int)
    return hh + mm / 60 + ss / 3600
