"""A day written in parts: checking the parts one by one, then the whole-file rules, finds exactly
what checking the assembled files finds (same file, line, column, rule, value); the assembled
bytes are the parts' rows in order under one header; a worker that stops is a one-line error
and nothing is published."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from data_generator import pipeline
from data_generator.contracts import contracts
from data_generator.errors import OutputError
from data_generator.parts import Assembly, line_breaks
from data_generator.pipeline import generate_day
from data_generator.validation import validate_day
from data_generator.validation.day import DayCheck
from data_generator.validation.readers import Written
from tests.conftest import DAY

PARTED = ("vitals.csv", "labs.csv", "notes.jsonl")


@pytest.fixture(scope="module")
def damaged(tmp_path_factory, cfg) -> Path:
    """A 40-encounter day, its manifest removed and rows broken in different thirds of its files:
    a bad respiratory rate early and a bad heart rate late in vitals, a lab ID repeated from the
    first third in the last, a note that is not JSON, and a vital whose encounter does not exist."""
    out = tmp_path_factory.mktemp("parts")
    folder = generate_day(cfg, DAY, "sample", out, encounters=40).folder
    (folder / "_manifest.json").unlink()
    vitals = (folder / "vitals.csv").read_text().splitlines(keepends=True)
    header = vitals[0].rstrip("\n").split(",")
    late = len(vitals) - 5
    cells = vitals[late].split(",")
    cells[header.index("heart_rate")] = "abc"
    vitals[late] = ",".join(cells)
    cells = vitals[5].split(",")
    cells[header.index("resp_rate")] = "fast"
    vitals[5] = ",".join(cells)
    cells = vitals[len(vitals) // 2].split(",")
    cells[header.index("encounter_id")] = "ENC-20260115-99999"
    vitals[len(vitals) // 2] = ",".join(cells)
    (folder / "vitals.csv").write_text("".join(vitals))
    labs = (folder / "labs.csv").read_text().splitlines(keepends=True)
    first_id = labs[3].split(",", 1)[0]
    labs[-2] = first_id + "," + labs[-2].split(",", 1)[1]
    (folder / "labs.csv").write_text("".join(labs))
    notes = (folder / "notes.jsonl").read_text().splitlines(keepends=True)
    notes[len(notes) * 2 // 3] = '{"note_id": oops\n'
    (folder / "notes.jsonl").write_text("".join(notes))
    return folder


def _split(path: Path, into: Path, parts: int) -> list[Path]:
    """A file cut into `parts` part files named as it is (CSV parts each with the header)."""
    lines = path.read_bytes().splitlines(keepends=True)
    head, rows = (lines[:1], lines[1:]) if path.suffix == ".csv" else ([], lines)
    step = -(-len(rows) // parts)
    out = []
    for k in range(parts):
        folder = into / f"{k:06d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / path.name).write_bytes(b"".join(head + rows[k * step:(k + 1) * step]))
        out.append(folder / path.name)
    return out


@pytest.mark.parametrize("held", ["as files", "in memory"])
def test_checking_parts_finds_what_checking_the_whole_files_finds(damaged, tmp_path, held):
    """Parts checked and appended as files (a worker's) or as their bytes (a day made in this
    process) find what the whole files find, and assemble into the same bytes."""
    whole = validate_day(damaged, DAY)
    assert {"type", "unique", "json", "foreign_key"} <= set(whole.counts)

    assembled = tmp_path / "day"
    assembled.mkdir()
    for name in ("patients.csv", "encounters.csv"):
        shutil.copy(damaged / name, assembled / name)
    check = DayCheck(assembled, contracts(), DAY)
    assert check.whole == ["patients", "encounters"]
    for name in check.whole:
        check.check_file(name)
    assembly = Assembly(assembled)
    for file in PARTED:
        name = file.split(".")[0]
        for part in _split(damaged / file, tmp_path / "parts" / name, 3):
            lines = line_breaks(part.read_bytes())
            if held == "in memory":
                part = Written(part.name, part.read_bytes())
            found = check.check_part(part, name)
            check.add_part(found, assembly.append(part, lines))
    described = assembly.close()
    parted = check.finish()

    assert _in_order(parted.violations) == _in_order(whole.violations)  # found per part, then whole-file rules
    assert parted.counts == whole.counts and parted.rows == whole.rows
    for file in PARTED:
        assert (assembled / file).read_bytes() == (damaged / file).read_bytes(), file
        assert described[file]["bytes"] == (damaged / file).stat().st_size


def _in_order(violations):
    return sorted(violations, key=lambda v: (v.file, v.line or 0, v.field or "", v.rule, str(v.value)))


def test_a_worker_that_stops_is_a_one_line_error_and_nothing_is_published(tmp_path, cfg, monkeypatch):
    monkeypatch.setattr(pipeline, "CHUNK_ENCOUNTERS", 7)
    chart = pipeline._ChunkJob._chart

    def dying(self, k):
        if k == 3:
            os._exit(1)
        return chart(self, k)

    monkeypatch.setattr(pipeline._ChunkJob, "_chart", dying)
    with pytest.raises(OutputError) as err:
        generate_day(cfg, DAY, "sample", tmp_path, encounters=33, workers=2)
    assert err.value.line().startswith("output: worker process: stopped before its chunks were written")
    assert not list(tmp_path.iterdir())


def test_an_empty_day_has_each_file_with_its_header(tmp_path, cfg):
    folder = generate_day(cfg, DAY, "sample", tmp_path, encounters=0).folder
    assert validate_day(folder, DAY).ok
    for name, schema in contracts().items():
        text = (folder / schema["x-file"]).read_text()
        assert text == ("" if name == "notes" else ",".join(schema["properties"]) + "\n"), name


def test_an_error_that_does_not_pickle_still_reaches_the_caller(tmp_path, cfg, monkeypatch):
    monkeypatch.setattr(pipeline, "CHUNK_ENCOUNTERS", 7)
    chart = pipeline._ChunkJob._chart

    class Unpicklable(Exception):
        def __init__(self):
            super().__init__("a chunk went wrong")
            self.callback = lambda: None

    def failing(self, k):
        if k == 2:
            raise Unpicklable()
        return chart(self, k)

    monkeypatch.setattr(pipeline._ChunkJob, "_chart", failing)
    with pytest.raises(RuntimeError, match="in a worker process: Unpicklable: a chunk went wrong"):
        generate_day(cfg, DAY, "sample", tmp_path, encounters=33, workers=2)
    assert not list(tmp_path.iterdir())


def test_appended_parts_are_flushed_to_disk_while_the_day_is_assembled(tmp_path, monkeypatch):
    """Each file's appended bytes are synced by the flush thread before `close()`, so that
    publishing's sync has little left to wait for."""
    synced: list[int] = []
    sync = os.fdatasync

    def recording(fd):
        synced.append(os.fstat(fd).st_size)
        sync(fd)

    monkeypatch.setattr(os, "fdatasync", recording)
    assembly = Assembly(tmp_path)
    for k in range(3):
        assembly.append(Written("labs.csv", b"lab_id,value\n" + b"L%d,1.0\n" % k), 2)
        assembly._flushed()  # each flush done before the next part: one per part
    assert synced == [20, 27, 34]  # the file's size when each flush ran: all appended so far
    assert assembly.close()["labs.csv"]["bytes"] == 34


def test_a_failed_flush_is_an_output_error_and_nothing_is_published(tmp_path, cfg, monkeypatch):
    def failing(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", failing)
    with pytest.raises(OutputError) as err:
        generate_day(cfg, DAY, "sample", tmp_path, encounters=12)
    assert err.value.line().startswith("output: ")
    assert "Input/output error" in err.value.line()
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("size", [0, 1, (1 << 16) - 1, 1 << 16, 3 * (1 << 16) + 7])
def test_line_breaks_counts_every_line_break_across_its_slices(size):
    data = np.random.default_rng(size).choice(np.frombuffer(b'ab,"\n\r', np.uint8), size).tobytes()
    assert line_breaks(data) == data.count(b"\n")


def test_workers_check_parts_against_the_whole_files_the_parent_checked(tmp_path, cfg, monkeypatch):
    """The parent checks patients and encounters once and hands what it found to the workers;
    a worker checks its parts against that and never reads the whole files itself."""
    monkeypatch.setattr(pipeline, "CHUNK_ENCOUNTERS", 7)
    log = tmp_path / "calls.log"
    check_file, check_part = DayCheck.check_file, DayCheck.check_part

    def logged(kind, method):
        def call(self, *args):
            with open(log, "a") as f:
                f.write(f"{os.getpid()} {kind} {args[0] if kind == 'file' else ','.join(sorted(self.kept))}\n")
            return method(self, *args)
        return call

    monkeypatch.setattr(DayCheck, "check_file", logged("file", check_file))
    monkeypatch.setattr(DayCheck, "check_part", logged("part", check_part))
    (tmp_path / "out").mkdir()
    generate_day(cfg, DAY, "sample", tmp_path / "out", encounters=33, workers=2)
    calls = [line.split() for line in log.read_text().splitlines()]
    here = str(os.getpid())
    assert sorted((kind, what) for pid, kind, what in calls if kind == "file") == \
        [("file", "encounters"), ("file", "patients")]
    assert {pid for pid, kind, _ in calls if kind == "file"} == {here}
    parts = [(pid, what) for pid, kind, what in calls if kind == "part"]
    assert len({pid for pid, _ in parts} - {here}) == 2  # both workers checked parts
    assert {what for _, what in parts} == {"encounters,patients"}
