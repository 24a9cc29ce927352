"""Advisory file locks: one writer per day folder and per registry, across processes.

A second run on the same day or registry refuses at once with a clear message rather than
waiting or interleaving. Locks are released by the kernel when a process dies, so a killed run
never leaves a stale lock behind (the empty lock file itself is harmless).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from data_generator.errors import BusyError


@contextmanager
def exclusive(path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if needed) for the duration of the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise BusyError(str(path), f"{what} is in use by another run (pid {holder})",
                        hint="wait for it to finish; a lock is released when its process ends") from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def day_lock(target: Path) -> Path:
    """`data/<mode>/.locks/<date>.lock`: out of the way of loaders globbing the day folders."""
    return target.parent / ".locks" / f"{target.name}.lock"


def registry_lock(registry: Path) -> Path:
    return registry.with_name(registry.name + ".lock")
