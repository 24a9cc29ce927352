"""Checked configs kept between runs, so a command does not parse and cross-check the same
YAML again.

An entry holds what `load_config` returns for one generator.yaml (and the code of the templates
its checks compiled, so that a run need not compile them again), stored under a name made of
that file's resolved path and bytes and of the code that checks it (the names, sizes and
modification times of this package's files and of the YAML, Jinja2 and JSON Schema libraries':
code that changed makes every entry unreachable). It records the SHA-256 of every other file the
config was read from and the list of scenario files; it is used only while each of those is
unchanged. Only configs that passed every check are stored: an
edit that breaks one is always read and reported afresh.

The folder is $DATAGEN_CACHE_DIR, else $XDG_CACHE_HOME/datagen, else ~/.cache/datagen;
DATAGEN_CACHE_DIR=off turns the cache off. A missing, unreadable or unwritable folder, or an
entry that does not load, means no cache: the config is loaded as if there were none.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
import tempfile
from contextlib import suppress
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import jsonschema_rs
import yaml

ENV = "DATAGEN_CACHE_DIR"
FORMAT = 2  # bump when what an entry holds changes
KEEP = 64  # entries kept; the least recently written go first
_PACKAGE = Path(__file__).resolve().parent


def folder() -> Path | None:
    """The cache folder, or None when the cache is off."""
    chosen = os.environ.get(ENV)
    if chosen == "off":
        return None
    if chosen:
        return Path(chosen)
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "datagen"
    try:
        return Path.home() / ".cache" / "datagen"
    except RuntimeError:  # no home folder to be found: no cache
        return None


@cache
def code_stamp() -> str:
    """The code a check depends on, as the entries' names depend on it: this package's files
    (sources and schemas) and the installed YAML, Jinja2 and JSON Schema libraries."""
    h = hashlib.sha256(f"{FORMAT} {sys.version}".encode())
    ours = sorted(p for p in _PACKAGE.rglob("*") if p.suffix in (".py", ".json") and "__pycache__" not in p.parts)
    libraries = [Path(m.__file__) for m in (yaml, jinja2, jsonschema_rs.jsonschema_rs)]
    for path in ours + libraries:
        st = path.stat()
        h.update(f"{path} {st.st_size} {st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _entry(config: Path, raw: bytes) -> Path | None:
    where = folder()
    if where is None:
        return None
    name = digest(f"{code_stamp()} {config.resolve()} {digest(raw)}".encode())[:40]
    return where / f"config-{name}.pickle"


def get(config: Path, raw: bytes) -> dict[str, Any] | None:
    """The stored data for generator.yaml `config` read as `raw`, if every other file it was read
    from is unchanged and its scenario folder holds the same scenario files; else None."""
    entry = _entry(config, raw)
    if entry is None:
        return None
    try:
        with open(entry, "rb") as f:
            stored = pickle.load(f)
        if _listing(Path(stored["scenario_dir"])) != stored["scenarios"]:
            return None
        for name, sha in stored["files"].items():
            if digest(Path(name).read_bytes()) != sha:
                return None
        return stored["data"]
    except Exception:  # noqa: BLE001 (no entry, or one that does not load: no cache)
        return None


def put(config: Path, raw: bytes, files: dict[Path, str], scenario_dir: Path, data: dict[str, Any]) -> None:
    """Store a checked config's data: `files` are the other files it was read from, with the
    SHA-256 of the bytes that were read; `scenario_dir` the folder its scenarios were found in."""
    entry = _entry(config, raw)
    if entry is None:
        return
    stored = {"files": {str(p.resolve()): sha for p, sha in files.items()},
              "scenario_dir": str(scenario_dir.resolve()), "scenarios": _listing(scenario_dir), "data": data}
    temp = None
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(stored, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temp, entry)
        temp = None
        _prune(entry.parent)
    except OSError:
        pass
    finally:
        if temp is not None:
            with suppress(OSError):
                os.unlink(temp)


def _listing(scenario_dir: Path) -> list[str]:
    return sorted(p.name for p in scenario_dir.glob("*.yaml"))


def _prune(where: Path) -> None:
    """Keep the KEEP most recently written entries."""
    def written(p: Path) -> int:
        try:
            return p.stat().st_mtime_ns
        except OSError:
            return 0
    for old in sorted(where.glob("config-*.pickle"), key=written, reverse=True)[KEEP:]:
        old.unlink(missing_ok=True)
