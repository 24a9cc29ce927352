"""A day's large files written in parts: each chunk of encounters is charted, numbered, written
and checked as parts of its own (part files in worker processes; their bytes in memory when
run here), and the parts are appended to the day's files in chunk order.

    with parts_in_order(job, chunks, workers, first) as charted:
        for parts, clock in charted: ...

A chunk's rows can be numbered only once the row counts of every earlier chunk are known. So a
worker charts a chunk, sends its row counts, waits for the first number of each table, then
writes and checks its part files and sends what it found; the parent answers counts in chunk
order and hands the parts on in chunk order. The bytes depend on neither the number of workers
nor the order in which they finish.

`Assembly` appends parts to the day's files, hashing the bytes as they go, so that publishing
need not read them again, and has what it appended flushed to disk behind it, so that publishing
need not wait for all of it at the end.
"""

from __future__ import annotations

import gc
import hashlib
import multiprocessing as mp
import os
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Protocol

import numpy as np

from data_generator.errors import OutputError
from data_generator.validation.readers import Written

_COPY_BLOCK = 1 << 19  # a block read, written and hashed while it is in the CPU's cache
_COUNT_SLICE = 1 << 16


class PartJob(Protocol):
    def chart(self, k: int) -> tuple[list[tuple[str, dict]], object]: ...

    def here(self) -> PartJob: ...  # the job as run in this process (its parts may stay in memory)

    def started(self, found: object) -> None: ...  # in a worker: what `start` gave in the parent

    def write(self, k: int, pieces: list[tuple[str, dict]], first: dict[str, int], clock) -> dict: ...


def line_breaks(data: bytes) -> int:
    """The line breaks in `data` (numpy's compare and count, in cache-sized slices: a few times
    quicker than `bytes.count`)."""
    raw = np.frombuffer(data, np.uint8)
    return sum(int(np.count_nonzero(raw[i:i + _COUNT_SLICE] == 10)) for i in range(0, len(raw), _COUNT_SLICE))


def table_rows(table: dict) -> int:
    """Rows of a column table (every column has as many)."""
    return len(next(iter(table.values())))


def counts(pieces: list[tuple[str, dict]]) -> dict[str, int]:
    """Rows per table of a chunk's pieces."""
    return {name: table_rows(table) for name, table in pieces}


@contextmanager
def parts_in_order(job: PartJob, chunks: int, workers: int, first: dict[str, int],
                   start: Callable[[], None] | None = None) -> Iterator[Iterator]:
    """(parts, clock) of chunk 0, 1, ... in order: charted and written here, or by `workers`
    processes forked now (worker i takes chunks i, i + workers, ...). `first` is each table's
    first row number. `start` runs here once the workers are charting, before any chunk is
    numbered (so before any is written); what it returns is handed to each worker's
    `job.started` with the numbers of its first chunk. Leaving the block stops the workers."""
    workers = min(workers, chunks)
    if workers <= 1 or "fork" not in mp.get_all_start_methods():
        if start:
            start()
        yield _here(job.here(), chunks, dict(first))
        return
    context = mp.get_context("fork")
    pipes, processes = [], []
    try:
        gc.freeze()  # what this process holds: a worker's collections neither walk nor copy it
        try:
            for i in range(workers):
                mine, theirs = context.Pipe()
                process = context.Process(target=_worker, args=(job, theirs, range(i, chunks, workers)),
                                          daemon=True)
                process.start()
                theirs.close()
                pipes.append(mine)
                processes.append(process)
        finally:
            gc.unfreeze()
        yield _gathered(pipes, chunks, dict(first), start() if start else None)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join()
        for pipe in pipes:
            pipe.close()


def _here(job: PartJob, chunks: int, first: dict[str, int]):
    for k in range(chunks):
        pieces, clock = job.chart(k)
        found = counts(pieces)
        parts = job.write(k, pieces, dict(first), clock)
        _advance(first, found)
        yield parts, clock


def _advance(first: dict[str, int], found: dict[str, int]) -> None:
    for name, n in found.items():
        first[name] = first.get(name, 1) + n


def _worker(job: PartJob, conn: Connection, ks: range) -> None:
    """A worker process: chart each of its chunks, send the counts, write with the numbers it
    is sent, send the parts; any error is sent instead (the parent raises it). Ctrl-C is the
    parent's to act on; the parent stops a worker with SIGTERM, which ends it at once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        for n, k in enumerate(ks):
            pieces, clock = job.chart(k)
            conn.send(("counts", k, counts(pieces)))
            first, started = conn.recv()
            if not n:
                job.started(started)
            conn.send(("parts", k, (job.write(k, pieces, first, clock), clock)))
    except BaseException as exc:  # noqa: BLE001 (handed to the parent whole)
        with suppress(OSError):  # the parent has gone
            try:
                conn.send(("error", None, exc))
            except Exception:  # noqa: BLE001 (an error that does not pickle)
                conn.send(("error", None, RuntimeError(f"in a worker process: {type(exc).__name__}: {exc}")))
    finally:
        conn.close()


def _gathered(pipes: list[Connection], chunks: int, first: dict[str, int], started: object):
    """The parent's side: first numbers sent in chunk order (a worker's first chunk's with
    `started`), parts handed on in chunk order. A chunk is numbered only when it is at most two
    chunks per worker ahead of the one handed on, so what waits here stays bounded by the
    chunk, not the day."""
    found: dict[int, dict[str, int]] = {}
    done: dict[int, tuple] = {}
    numbered = handed = 0
    owed = {conn: len(range(i, chunks, len(pipes))) for i, conn in enumerate(pipes)}  # parts each worker will send
    live = list(pipes)
    while handed < chunks:
        while numbered in found and numbered < handed + 2 * len(pipes):  # at most two chunks a worker ahead
            pipes[numbered % len(pipes)].send((dict(first), started if numbered < len(pipes) else None))
            _advance(first, found.pop(numbered))
            numbered += 1
        if handed in done:
            yield done.pop(handed)
            handed += 1
            continue
        for conn in wait(live):
            try:
                kind, k, payload = conn.recv()
            except EOFError:  # a worker that sent all its parts has ended; any other stopped
                if not owed[conn]:
                    live.remove(conn)
                    continue
                raise OutputError("worker process", "stopped before its chunks were written",
                                  hint="see the messages above; run with --workers 1 to find the cause") from None
            if kind == "error":
                raise payload
            if kind == "counts":
                found[k] = payload
            else:
                done[k] = payload
                owed[conn] -= 1


class Assembly:
    """The day's files assembled from parts (part files, or their bytes): each part's bytes
    appended (a CSV part's header once, at the top), hashed on the way; `close()` gives each
    file's bytes and SHA-256 as the manifest records them.

    What has been appended is flushed to disk by a thread of its own (one flush at a time, the
    next one started after the next part once it is done), so the day's files are mostly on disk
    by the time publishing syncs them. A failed flush is raised (by the next `append` or by
    `close()`): a later sync through another descriptor need not report it again."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._files: dict[str, tuple] = {}  # file name -> (open file, hash, bytes, lines)
        self._buffer = bytearray(_COPY_BLOCK)
        self._view = memoryview(self._buffer)
        self._flusher = ThreadPoolExecutor(1, thread_name_prefix="flush")
        self._flushing: Future | None = None

    def append(self, part: Path | Written, lines: int) -> int:
        """Append a part (a file named as its day file, removed once appended, or its bytes) of
        `lines` line breaks (`line_breaks` of its bytes, counted where they were made); gives the
        day file's lines before the part's rows (its header included)."""
        name, csv = part.name, part.suffix == ".csv"
        if name not in self._files:
            self._files[name] = (open(self.folder / name, "wb"), hashlib.sha256(), 0, 0)  # noqa: SIM115
        out, digest, size, held = self._files[name]
        before = 1 if csv and not size else held  # a first CSV part: its header precedes its rows
        if isinstance(part, Written):
            skip = part.data.find(b"\n") + 1 if csv and size else 0  # the header, written with the first part
            data = memoryview(part.data)[skip:]
            out.write(data)
            digest.update(data)
            size += len(data)
        else:
            with open(part, "rb") as f:
                if csv and size:
                    f.readline()  # the header, written with the first part
                while n := f.readinto(self._buffer):
                    out.write(self._view[:n])
                    digest.update(self._view[:n])
                    size += n
            part.unlink()
        self._files[name] = (out, digest, size, before + lines - (1 if csv else 0))  # one header
        self._flush_behind()
        return before

    def _flush_behind(self) -> None:
        if self._flushing is None or self._flushing.done():
            self._flushed()
            for f, *_ in self._files.values():
                f.flush()  # what the file object holds, to the system
            descriptors = [f.fileno() for f, *_ in self._files.values()]
            self._flushing = self._flusher.submit(lambda: [os.fdatasync(fd) for fd in descriptors])

    def _flushed(self) -> None:
        """Wait for the flush under way, if any; a failed one is raised."""
        flushing, self._flushing = self._flushing, None
        try:
            if flushing is not None:
                flushing.result()
        except OSError as exc:
            raise OutputError(str(self.folder), "cannot write the day's files", found=exc.strerror,
                              hint="check the disk; nothing was published") from None

    def close(self) -> dict[str, dict]:
        """Finish the files: {file: {bytes, sha256}}."""
        self._flushed()
        self._flusher.shutdown()
        out = {}
        for name, (f, digest, size, _) in self._files.items():
            f.close()
            out[name] = {"bytes": size, "sha256": digest.hexdigest()}
        self._files = {}
        return out

    def discard(self) -> None:
        with suppress(OutputError):
            self._flushed()  # the files stay open until their flush is done
        self._flusher.shutdown()
        for f, *_ in self._files.values():
            f.close()
        self._files = {}
