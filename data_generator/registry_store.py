"""The raw-mode registry file: `data_generator/state/patients_master.csv`.

It holds every patient registered up to the latest day generated, in patient-number order,
under the patients contract. Because a patient is derived from the seed and its number, a row
on file must equal its derivation: a row that does not (edited, or written under another
seed or config) is refused, never silently rewritten. The file is replaced atomically.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

from data_generator.config import Config
from data_generator.contracts import columns, load_contract, read_csv_strings
from data_generator.errors import ContractError, RegistryError
from data_generator.generators.registry import Registry, derive_registry
from data_generator.publish import fsync
from data_generator.writer import format_columns, write_table

DEFAULT_PATH = Path(__file__).resolve().parent / "state" / "patients_master.csv"
FORMAT_VERSION = 1  # bumped when the file's layout changes; newer files are refused


def _read(path: Path) -> dict[str, list]:
    """The registry's columns as lists of strings (it is a patients-contract CSV)."""
    schema = load_contract("patients")
    try:
        batches = list(read_csv_strings(path, schema))
    except ContractError as exc:
        raise RegistryError(exc.where, f"{exc.problem} (patients contract)", found=exc.found,
                            hint="restore it with `datagen registry restore` or move it aside") from None
    names = columns(schema)
    return {c: [v for b in batches for v in b.column(c).to_pylist()] for c in names}


def _check_version(path: Path) -> None:
    meta = _meta_path(path)
    if not meta.exists():
        return
    try:
        version = json.loads(meta.read_text())["format_version"]
    except (OSError, ValueError, KeyError, TypeError):
        raise RegistryError(str(meta), "unreadable registry metadata",
                            hint="restore it with `datagen registry restore` or move the registry aside") from None
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise RegistryError(str(path), f"written by a newer registry format (version {version}, "
                            f"this generator reads {FORMAT_VERSION})", hint="upgrade the generator")


def check_file(cfg: Config, path: Path) -> int:
    """Rows on file, after checking each equals the seed's derivation of that patient."""
    if not path.exists():
        return 0
    _check_version(path)
    on_file = _read(path)
    ids = on_file["patient_id"]
    n = len(ids)
    if n == 0:
        return 0
    seen: dict[str, int] = {}
    for i, pid in enumerate(ids):
        if pid in seen:
            raise RegistryError(f"{path}:{i + 2} patient_id", f"duplicate of line {seen[pid] + 2}", found=pid,
                                hint="restore the backup with `datagen registry restore`")
        seen[pid] = i
    last = on_file["registered_date"][-1]
    try:
        derived = derive_registry(cfg, dt.date.fromisoformat(last))
    except (TypeError, ValueError):
        raise RegistryError(f"{path}:{n + 1} registered_date", "not a date", found=last) from None
    if len(derived) < n:
        raise RegistryError(f"{path}:{len(derived) + 2}", "more patients than the config registers",
                            hint="the registry belongs to another config or seed; move it aside")
    expected = format_columns(derived.table, load_contract("patients"), cfg.tz)
    for col, values in on_file.items():
        want = expected[col].to_pylist()[:n]
        if values != want:
            row = next(i for i, (a, b) in enumerate(zip(values, want, strict=True)) if a != b)
            raise RegistryError(f"{path}:{row + 2} {col}", "differs from the patient derived from the seed",
                                found=values[row],
                                hint="the registry was edited or belongs to another seed; "
                                     "`datagen registry restore` brings back the backup")
    if n != len(derived):
        raise RegistryError(str(path), f"ends part-way through {last}: {n} patients on file, "
                            f"{len(derived)} registered by then (truncated?)",
                            hint="`datagen registry restore` brings back the backup")
    return n


def save(cfg: Config, registry: Registry, path: Path, on_file: int) -> int:
    """Write the registry if it grew past the `on_file` patients that `check_file` found (with
    the registry lock held since); returns how many patients were added.

    New file first (fsynced), then the previous version is copied to the backup, then the new
    file is renamed over the old one: at every instant the registry is the old or the new one.
    """
    if len(registry) <= on_file:
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write_table(tmp, registry.table, load_contract("patients"), cfg.tz)
        fsync(tmp)
        if path.exists():
            backup_tmp = path.with_name(f".{path.name}.{os.getpid()}.bak")
            shutil.copy2(path, backup_tmp)
            fsync(backup_tmp)
            os.replace(backup_tmp, backup_path(path))
        os.replace(tmp, path)
        _write_meta(path)
        fsync(path.parent)
    except OSError as exc:
        raise RegistryError(str(path), f"cannot write the registry: {exc.strerror}",
                            hint="the previous registry is unchanged") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return int(len(registry) - on_file)


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


def restore(path: Path) -> int:
    """Put the backup back in place (atomically); returns the patients it holds."""
    backup = backup_path(path)
    if not backup.exists():
        raise RegistryError(str(backup), "no backup to restore", hint="a backup is kept after the registry first grows")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.restore")
    shutil.copy2(backup, tmp)
    fsync(tmp)
    os.replace(tmp, path)
    _write_meta(path)
    return len(_read(path)["patient_id"])


def _meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".meta.json")


def _write_meta(path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.meta")
    tmp.write_text(json.dumps({"format_version": FORMAT_VERSION}) + "\n")
    os.replace(tmp, _meta_path(path))
