"""Advisory file locks: one writer per day folder and per registry, across processes.

A second run on the same day or registry refuses at once with a clear message rather than
waiting or interleaving. Locks are released by the kernel when a process dies, so a killed run
never leaves a stale lock behind; a run removes its lock file when it ends (a killed run may
leave the empty file, which is harmless).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from data_generator.errors import BusyError, OutputError


@contextmanager
def exclusive(path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if needed) for the duration of the block; the
    lock file, and any folder made for it, are removed again on the way out, so a refused or
    finished run leaves nothing behind."""
    made = [p for p in reversed(path.parents) if not p.exists()]
    tries = 0
    while True:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError as exc:
            tries += 1  # another run, finishing, removed the emptied lock folder: make it again
            if tries < 100:
                continue
            raise OutputError(str(path.parent), f"cannot create folder: {exc.strerror}") from None
        except OSError as exc:
            raise OutputError(str(path.parent), f"cannot create folder: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            _tidy(None, made)
            raise BusyError(str(path), f"{what} is in use by another run (pid {holder})",
                            hint="wait for it to finish; a lock is released when its process ends") from None
        if _same_file(fd, path):
            break
        os.close(fd)  # the holder removed the file between our open and our lock: take the new one
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        _tidy(path, made)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def _tidy(lock: Path | None, made: list[Path]) -> None:
    """Remove the lock file (still held, so no one else is using it), its folder if no other lock
    is in it (whichever run made it: runs in parallel finish in any order), and the empty folders
    made for it."""
    if lock is not None:
        lock.unlink(missing_ok=True)
        with suppress(OSError):
            lock.parent.rmdir()  # fails while another run's lock file is there
    for folder in reversed(made):
        try:
            folder.rmdir()
        except FileNotFoundError:
            continue  # already removed (the lock folder, by the line above or by another run)
        except OSError:
            break  # not empty: something else lives there now


def day_lock(target: Path) -> Path:
    """`data/<mode>/.locks/<date>.lock`: out of the way of loaders globbing the day folders."""
    return target.parent / ".locks" / f"{target.name}.lock"


def registry_lock(registry: Path) -> Path:
    return registry.with_name(registry.name + ".lock")
