"""Killed runs, concurrent runs and bad output locations, with real processes.

A run is held at a named step (DATAGEN_HOLD_AT, a test hook that only waits) and then really
killed; afterwards the day folder is the previous complete one or absent, the registry is the
previous or the new complete one, and a re-run gives the same bytes as an uninterrupted run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CONFIG, ROOT

D1, D2 = "2025-02-10", "2025-02-11"


def _cmd(out: Path, reg: Path, date: str, n: int = 40) -> list[str]:
    return [sys.executable, "-m", "data_generator", "generate", "--mode", "raw", "--date", date, "--encounters",
            str(n), "--out-root", str(out), "--registry", str(reg), "--config", str(CONFIG), "--quiet"]


def _env(**extra) -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


def _run(args, **extra) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=_env(**extra), capture_output=True, text=True, timeout=300)


def _held(args, step: str) -> subprocess.Popen:
    """Start a run and return once it announces it is waiting at `step`."""
    proc = subprocess.Popen(args, env=_env(DATAGEN_HOLD_AT=step, DATAGEN_HOLD_SECONDS="60"),
                            stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    assert line.strip() == f"holding at {step}", line
    return proc


def _snapshot(folder: Path) -> dict[str, bytes] | None:
    if not folder.exists():
        return None
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Two raw days run cleanly: the bytes every interrupted-then-rerun sequence must reach."""
    root = tmp_path_factory.mktemp("ref")
    reg = root / "reg.csv"
    for date in (D1, D2):
        assert _run(_cmd(root, reg, date)).returncode == 0
    return {"days": {d: _snapshot(root / "raw" / d) for d in (D1, D2)}, "registry": reg.read_bytes(),
            "registry_after_d1": None}


@pytest.mark.parametrize("step, sig", [
    ("write vitals", signal.SIGKILL),
    ("write notes", signal.SIGTERM),
    ("validate", signal.SIGINT),
    ("publish", signal.SIGKILL),
    ("validate", signal.SIGTERM),
])
def test_killed_regeneration_keeps_the_previous_day(tmp_path, reference, step, sig):
    """Killed while regenerating a published day: the old folder stays whole, the re-run matches."""
    reg = tmp_path / "reg.csv"
    for date in (D1, D2):
        assert _run(_cmd(tmp_path, reg, date)).returncode == 0
    registry_before = reg.read_bytes()
    proc = _held(_cmd(tmp_path, reg, D2), step)
    proc.send_signal(sig)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    assert _snapshot(tmp_path / "raw" / D2) in (reference["days"][D2], None)
    assert reg.read_bytes() == registry_before
    assert _run(_cmd(tmp_path, reg, D2)).returncode == 0
    assert _snapshot(tmp_path / "raw" / D2) == reference["days"][D2]
    assert [p.name for p in (tmp_path / "raw").iterdir() if p.name.startswith(".tmp")] == []


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_before_registry_update(tmp_path, reference, sig):
    """Killed after publishing a new day but before the registry grew: a re-run completes both."""
    reg = tmp_path / "reg.csv"
    assert _run(_cmd(tmp_path, reg, D1)).returncode == 0
    after_d1 = reg.read_bytes()
    proc = _held(_cmd(tmp_path, reg, D2), "registry")
    proc.send_signal(sig)
    proc.wait(timeout=60)
    assert reg.read_bytes() in (after_d1, reference["registry"])
    assert _run(_cmd(tmp_path, reg, D2)).returncode == 0
    assert reg.read_bytes() == reference["registry"]
    assert _snapshot(tmp_path / "raw" / D2) == reference["days"][D2]


def test_swap_interrupted_between_renames_is_recovered(tmp_path, reference):
    """If a kill lands between moving the old day aside and moving the new one in, the next run
    finds the previous day as .old-<date>-<pid> and puts it back before anything else."""
    reg = tmp_path / "reg.csv"
    assert _run(_cmd(tmp_path, reg, D1)).returncode == 0
    day = tmp_path / "raw" / D1
    aside = day.parent / f".old-{D1}-99999"
    os.rename(day, aside)
    r = _run(_cmd(tmp_path, reg, D1), DATAGEN_HOLD_AT="validate", DATAGEN_HOLD_SECONDS="0")
    assert r.returncode == 0, r.stderr
    assert not aside.exists()
    assert _snapshot(day) == reference["days"][D1]


def test_second_run_on_the_same_day_is_refused(tmp_path):
    """Two writers never overlap: while one run holds a day, another on that day exits 7."""
    reg = tmp_path / "reg.csv"
    holder = _held(_cmd(tmp_path, reg, D1), "validate")
    try:
        other = _run(_cmd(tmp_path, tmp_path / "other.csv", D1))
        assert other.returncode == 7
        assert "in use by another run" in other.stderr and f"{D1}" in other.stderr
        same_registry = _run(_cmd(tmp_path, reg, D2))
        assert same_registry.returncode == 7 and "registry" in same_registry.stderr
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("setup, expected", [
    (lambda root: root / "missing", "does not exist"),
    (lambda root: (root / "afile").write_text("x") and root / "afile", "is a file"),
])
def test_bad_output_roots_are_refused(tmp_path, setup, expected):
    """A missing output root or one that is a file: one line naming it, exit 6, nothing written."""
    out = setup(tmp_path)
    r = _run(_cmd(out, tmp_path / "reg.csv", D1))
    assert r.returncode == 6
    assert str(out) in r.stderr and expected in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "reg.csv").exists()


@pytest.fixture
def read_only_dir(tmp_path):
    """A folder nobody can write: a read-only tmpfs for root (who ignores permissions), else chmod 500."""
    path = tmp_path / "ro"
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o500)
        yield path
        path.chmod(0o700)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)],
                             capture_output=True).returncode == 0
    if not mounted:
        pytest.skip("root without mount rights: cannot make a read-only folder")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], capture_output=True)


def test_read_only_output_root(tmp_path, read_only_dir):
    """A read-only output root is refused with its path, exit 6, and nothing is written."""
    r = _run(_cmd(read_only_dir, tmp_path / "reg.csv", D1))
    assert r.returncode == 6 and "not writable" in r.stderr and str(read_only_dir) in r.stderr
    assert not any(read_only_dir.iterdir())
    assert not (tmp_path / "reg.csv").exists()


def test_full_disk_leaves_nothing_partial(tmp_path):
    """Writes failing with ENOSPC (a 1 MB file-size limit, as on a full disk) name the path,
    exit 6 and leave no day folder and no staging folder."""
    import resource

    def tiny_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    r = subprocess.run(_cmd(tmp_path, tmp_path / "reg.csv", D1, n=400), env=_env(), capture_output=True,
                       text=True, timeout=300, preexec_fn=tiny_files)
    assert r.returncode == 6, r.stderr
    assert "cannot write" in r.stderr and str(tmp_path) in r.stderr
    assert not (tmp_path / "raw").exists()  # no day, no staging folder, not even the empty raw/ it made
    assert not (tmp_path / "reg.csv").exists()
