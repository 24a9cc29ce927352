"""Publishing a day: write its manifest into the staging folder, then swap it in whole.

Readers see either the previous day folder or the new one, never a half-written one. The
manifest (`_manifest.json`) records what the caller passes plus, per file, its rows, bytes and
SHA-256; it holds no wall-clock time, so the same day gives the same manifest.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from data_generator.contracts import Violation
from data_generator.errors import OutputError

MANIFEST = "_manifest.json"
ROW_COUNT_BLOCK = 4 << 20  # bytes per block when counting CSV records


def staging_dir(target: Path) -> Path:
    """A fresh, empty folder beside `target` to write the day into."""
    target = Path(target)
    staging = target.parent / f".tmp-{target.name}-{os.getpid()}"
    try:
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
    except OSError as exc:
        raise OutputError(str(staging), "cannot create the staging folder", found=exc.strerror,
                          hint="check the output folder's permissions") from None
    return staging


@contextmanager
def staged(target: Path) -> Iterator[Path]:
    """A fresh staging folder beside `target` for the block, which publishes it (`publish_day`).
    Any failure removes it; an OS error becomes one output error: nothing was published."""
    staging = staging_dir(target)
    try:
        yield staging
    except OSError as exc:
        discard(staging)
        raise OutputError(str(exc.filename or staging), f"cannot write: {exc.strerror}",
                          hint="nothing was published") from None
    except BaseException:
        discard(staging)
        raise


def discard(staging: Path) -> None:
    """Remove a staging folder and everything in it (no error if it is gone)."""
    shutil.rmtree(staging, ignore_errors=True)


def publish_day(staging: Path, target: Path, manifest: dict, described: dict[str, dict] | None = None) -> None:
    """Write the manifest into `staging`, then replace `target` with it in one rename.

    `described` gives files' {rows, bytes, sha256} already known (counted as they were
    assembled and validated); the other files are read for them. On any failure the staging
    folder is removed and `target` is left as it was.
    """
    staging, target = Path(staging), Path(target)
    old = target.parent / f".old-{target.name}-{os.getpid()}"
    moved_aside = False
    try:
        content = {**manifest, "files": manifest_for(staging, described)}
        text = json.dumps(content, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
        (staging / MANIFEST).write_text(text, encoding="utf-8")
        for path in sorted(staging.iterdir()):
            fsync(path)
        fsync(staging)
        if old.exists():
            shutil.rmtree(old)
        if target.exists():
            os.rename(target, old)
            moved_aside = True
        os.rename(staging, target)
        moved_aside = False
    except BaseException as exc:
        if moved_aside:
            os.rename(old, target)
        discard(staging)
        if isinstance(exc, OSError):
            raise OutputError(str(target), "cannot publish the day", found=exc.strerror,
                              hint="the previous folder is unchanged") from None
        raise
    shutil.rmtree(old, ignore_errors=True)
    fsync(target.parent)


def manifest_for(folder: Path, described: dict[str, dict] | None = None) -> dict[str, dict]:
    """{file: {rows, bytes, sha256}} for every data file in `folder` (not the manifest): as
    `described` gives it, else read from the file."""
    folder, described = Path(folder), described or {}
    return {path.name: described.get(path.name) or _describe(path) for path in sorted(folder.iterdir())
            if path.is_file() and path.name != MANIFEST}


def verify_manifest(folder: Path) -> list[Violation]:
    """Files whose bytes, checksum or row count differ from `_manifest.json` ('manifest')."""
    folder = Path(folder)
    try:
        recorded = json.loads((folder / MANIFEST).read_bytes())["files"]
        recorded = {str(k): dict(v) for k, v in recorded.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return [Violation(MANIFEST, None, "files", "manifest", None,
                          f"unreadable: {type(exc).__name__}")]
    actual = manifest_for(folder)
    problems = []
    for name in sorted(set(recorded) | set(actual)):
        if name not in actual:
            problems.append(Violation(name, None, None, "manifest", None, "listed but missing"))
        elif name not in recorded:
            problems.append(Violation(name, None, None, "manifest", None, "not in the manifest"))
        else:
            problems += [Violation(name, None, key, "manifest", actual[name][key],
                                   f"manifest says {recorded[name].get(key)!r}")
                         for key in ("bytes", "sha256", "rows")
                         if recorded[name].get(key) != actual[name][key]]
    return problems


def _describe(path: Path) -> dict:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return {"rows": _rows(path), "bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def _rows(path: Path) -> int | None:
    """Data records: JSONL lines, CSV records after the header (quoted newlines allowed), or
    Parquet rows; read in blocks, so memory stays bounded for large files."""
    if path.suffix == ".jsonl":
        with open(path, "rb") as f:
            return sum(1 for line in f if line.strip())
    if path.suffix == ".parquet":
        try:
            return pq.ParquetFile(path).metadata.num_rows
        except (pa.ArrowException, OSError):
            return None
    if path.suffix != ".csv":
        return None
    if not _is_utf8(path):
        return None  # rows are not countable; validation reports the bytes as 'encoding'
    with open(path, "rb") as f:
        head = f.readline(1 << 20)
    try:
        names = next(csv.reader([head.decode().rstrip("\r\n")]), [])
        names = [f"c{i}" for i in range(len(names))]  # positions: header names may repeat
        if not names:
            return 0
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1,
                                           block_size=ROW_COUNT_BLOCK),
            parse_options=pacsv.ParseOptions(newlines_in_values=True,
                                             invalid_row_handler=lambda row: "skip"),
            convert_options=pacsv.ConvertOptions(include_columns=["c0"],
                                                 column_types={"c0": pa.string()}))
        with reader:
            return sum(batch.num_rows for batch in reader)
    except (pa.ArrowInvalid, UnicodeDecodeError, csv.Error):
        return None


def _is_utf8(path: Path) -> bool:
    """Whole file decodes as UTF-8 (streamed; pyarrow's row handler cannot cope with bad bytes)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as f:
            while block := f.read(ROW_COUNT_BLOCK):
                decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def fsync(path: Path) -> None:
    """Flush a file or folder to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
