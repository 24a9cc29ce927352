"""The raw-mode registry file: `data_generator/state/patients_master.csv`.

It holds every patient registered up to the latest day generated, in patient-number order,
under the patients contract. Because a patient is derived from the seed and its number, a row
on file must equal its derivation: a row that does not (edited, or written under another
seed or config) is refused, never silently rewritten. The file is replaced atomically.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pyarrow.csv as pacsv

from data_generator.config import Config
from data_generator.contracts import columns, load_contract
from data_generator.errors import RegistryError
from data_generator.generators.registry import Registry, derive_registry
from data_generator.writer import format_columns, write_table

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "state" / "patients_master.csv"


def _read(path: Path) -> dict[str, list]:
    schema = load_contract("patients")
    names = columns(schema)
    try:
        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
            column_types={c: "string" for c in names}, strings_can_be_null=True))
    except Exception as exc:  # pyarrow raises several types for unreadable CSV
        raise RegistryError(str(path), f"cannot read the registry: {exc}".splitlines()[0],
                            hint="restore it from its backup or move it aside") from None
    if table.column_names != names:
        raise RegistryError(str(path), "columns differ from the patients contract",
                            found=",".join(table.column_names)[:120],
                            hint="restore it from its backup or move it aside")
    return {c: table.column(c).to_pylist() for c in names}


def check_file(cfg: Config, path: Path) -> int:
    """Rows on file, after checking each equals the seed's derivation of that patient."""
    if not path.exists():
        return 0
    on_file = _read(path)
    n = len(on_file["patient_id"])
    if n == 0:
        return 0
    last = on_file["registered_date"][-1]
    try:
        derived = derive_registry(cfg, dt.date.fromisoformat(last))
    except (TypeError, ValueError):
        raise RegistryError(f"{path}:{n + 1}", "registered_date is not a date", found=last) from None
    expected = format_columns(derived.table, load_contract("patients"), cfg.tz)
    if len(derived) < n:
        raise RegistryError(f"{path}:{len(derived) + 2}", "more patients than the config registers",
                            hint="the registry belongs to another config or seed; move it aside")
    for col, values in on_file.items():
        want = expected[col].to_pylist()[:n]
        if values != want:
            row = next(i for i, (a, b) in enumerate(zip(values, want, strict=True)) if a != b)
            raise RegistryError(f"{path}:{row + 2} {col}", "differs from the patient derived from the seed",
                                found=values[row],
                                hint="the registry was edited or belongs to another seed; restore its backup")
    return n


def save(cfg: Config, registry: Registry, path: Path) -> int:
    """Write the registry if it grew; returns how many patients were added."""
    before = check_file(cfg, path)
    if len(registry) <= before:
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write_table(tmp, registry.table, load_contract("patients"), cfg.tz)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        if path.exists():  # keep the previous version as the backup, never a moment without one
            backup_tmp = path.with_name(f".{path.name}.{os.getpid()}.bak")
            shutil.copy2(path, backup_tmp)
            os.replace(backup_tmp, path.with_name(path.name + ".bak"))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return int(len(registry) - before)

