"""The day report: one self-contained HTML file beside the day folder, true to the day's files."""

from __future__ import annotations

import base64
import re
import shutil
import struct

import pandas as pd
import pytest

from data_generator import report
from data_generator.contracts import contracts
from data_generator.errors import UsageError
from data_generator.pipeline import build_day, generate_day
from data_generator.publish import publish_day
from data_generator.report import render_report
from data_generator.writer import data_file, write_table
from tests.conftest import CONFIG, DAY

PLOTS = 6  # encounter mix, length of stay, vitals, labs, NEWS2, notes
IMG = re.compile(r'<img alt="plot"[^>]* src="data:image/png;base64,([A-Za-z0-9+/=]+)">')
MIN_TEXT_PX = 11  # the smallest tick or axis label, in screen pixels at the size shown


@pytest.fixture(scope="module")
def day(cfg, tmp_path_factory):
    return generate_day(cfg, DAY, "sample", tmp_path_factory.mktemp("report"), encounters=60).folder


@pytest.fixture(scope="module")
def page(day) -> str:
    return render_report(day, config=CONFIG).read_text(encoding="utf-8")


def _table(page: str, name: str) -> dict[str, int]:
    body = re.search(rf'<table id="table-{name}">(.*?)</table>', page, re.S).group(1)
    return {k: int(v) for k, v in re.findall(r'<td class="name">([^<]*)</td><td>(\d+)</td>', body)}


def _status(page: str) -> str:
    return re.search(r'<p class="(\w+)" id="contract-status">', page).group(1)


def test_report_is_written_beside_the_day_folder(day, page):
    """Default output is <folder>.report.html; the day folder keeps only its own files."""
    assert (day.parent / f"{day.name}.report.html").is_file()
    assert sorted(p.name for p in day.iterdir()) == sorted(
        ["patients.csv", "encounters.csv", "vitals.csv", "labs.csv", "notes.jsonl", "_manifest.json"])


def test_every_section_plot_is_an_embedded_png(page):
    """One inline PNG per section plot, and nothing fetched from elsewhere."""
    images = IMG.findall(page)
    assert len(images) == PLOTS
    assert all(base64.b64decode(b)[:8] == b"\x89PNG\r\n\x1a\n" for b in images)
    assert not re.search(r"<script|<link|https?://|src=\"(?!data:)", page)


def test_counts_match_the_encounters_file(day, page):
    """Counts per scenario, acuity and disposition are those of encounters.csv."""
    enc = pd.read_csv(day / "encounters.csv")
    for col in ("scenario", "acuity", "discharge_disposition"):
        expected = {str(k): int(v) for k, v in enc[col].value_counts().items()}
        assert _table(page, f"by-{col}") == expected, col
    notes = pd.read_json(day / "notes.jsonl", lines=True)
    assert _table(page, "notes") == {k: int(v) for k, v in notes["note_type"].value_counts().items()}


def test_valid_day_reports_ok_with_its_manifest(day, page):
    """A freshly published day is reported ok, with the manifest's files and checksums."""
    assert _status(page) == "ok"
    manifest = pd.read_json(day / "_manifest.json", typ="series")["files"]
    for name, info in manifest.items():
        assert f"<td>{info['sha256']}</td>" in page and f'<td class="name">{name}</td>' in page


def _corrupt(day, tmp_path, edit):
    bad = tmp_path / DAY.isoformat()
    shutil.copytree(day, bad)
    lines = (bad / "vitals.csv").read_text().splitlines(keepends=True)
    (bad / "vitals.csv").write_text("".join(edit(lines)))
    return render_report(bad, config=CONFIG).read_text(encoding="utf-8")


def test_corrupted_file_is_reported(day, tmp_path):
    """A day whose vitals file was edited after publishing is reported as failing its contract."""
    page = _corrupt(day, tmp_path, lambda lines: [lines[0], lines[1].replace(",", ",9", 4)] + lines[2:])
    assert _status(page) == "problem"
    assert "FAILED" in page and "vitals.csv sha256: manifest" in page
    assert len(IMG.findall(page)) == PLOTS


def test_unreadable_file_still_gives_a_report(day, tmp_path):
    """A vitals header broken beyond reading fails the contract; its sections say so instead of crashing."""
    page = _corrupt(day, tmp_path, lambda lines: [lines[0].replace("encounter_id", "enc", 1)] + lines[1:])
    assert _status(page) == "problem"
    assert "Cannot draw this section" in page
    assert _table(page, "by-scenario")  # sections from the intact files are still there


def test_report_is_deterministic(day, page, tmp_path):
    """The same day gives the same report bytes."""
    assert render_report(day, tmp_path / "again.html", config=CONFIG).read_text(encoding="utf-8") == page


def test_parquet_day_is_read(cfg, day, tmp_path):
    """A day published as typed Parquet gives the same counts as its CSV/JSONL form, and validates."""
    _, tables = build_day(cfg, DAY, "sample", encounters=60)
    staging = tmp_path / "staging"
    staging.mkdir()
    for name, schema in contracts().items():
        write_table(data_file(staging, schema, "parquet"), tables[name], schema, cfg.tz, fmt="parquet")
    folder = tmp_path / DAY.isoformat()
    publish_day(staging, folder, {"batch_date": DAY.isoformat(), "mode": "sample"})
    page = render_report(folder, config=CONFIG).read_text(encoding="utf-8")
    enc = pd.read_csv(day / "encounters.csv")
    for col in ("scenario", "acuity", "discharge_disposition"):
        assert _table(page, f"by-{col}") == {str(k): int(v) for k, v in enc[col].value_counts().items()}
    assert len(IMG.findall(page)) == PLOTS
    assert _status(page) == "ok"


def test_missing_folder_is_a_usage_error(tmp_path):
    """Reporting on a folder that does not exist is a usage error."""
    with pytest.raises(UsageError):
        render_report(tmp_path / "2026-01-15", config=CONFIG)


def test_plots_span_the_page_and_are_shown_at_their_own_size(page):
    """Every plot is drawn as wide as the page's text and shown pixel for pixel (width and height
    given, never stretched), so its font sizes are the sizes on screen."""
    assert f"max-width:{report.WIDTH_PX}px" in page and "img{display:block;max-width:100%;height:auto}" in page
    tags = re.findall(r'<img alt="plot" width="(\d+)" height="(\d+)" src="data:image/png;base64,([^"]+)">', page)
    assert len(tags) == PLOTS
    for width, height, data in tags:
        png_width, png_height = struct.unpack(">II", base64.b64decode(data)[16:24])  # the IHDR chunk
        assert (png_width, png_height) == (int(width), int(height)) and png_width == report.WIDTH_PX


@pytest.fixture(scope="module")
def figures(day, tmp_path_factory):
    """Every figure the report draws, kept after it is saved."""
    drawn, save = [], report._img
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(report, "_img", lambda fig: (drawn.append(fig), save(fig))[1])
        render_report(day, tmp_path_factory.mktemp("figures") / "r.html", config=CONFIG)
    assert len(drawn) == PLOTS
    return drawn


def test_every_chart_has_labelled_axes(figures):
    """Both axes of every chart (bar charts, histograms, box plots) say what they show."""
    for fig in figures:
        for ax in fig.axes:
            if ax.get_visible():
                assert ax.get_xlabel() and ax.get_ylabel(), (ax.get_xlabel(), ax.get_ylabel())


def test_tick_and_axis_labels_are_readable(figures):
    """Tick labels and axis labels are at least MIN_TEXT_PX pixels high as shown."""
    for fig in figures:
        px = fig.dpi / 72  # the plot is shown at its own size (see above)
        for ax in fig.axes:
            if not ax.get_visible():
                continue
            texts = [*ax.get_xticklabels(), *ax.get_yticklabels(), ax.xaxis.label, ax.yaxis.label]
            small = [(t.get_text(), t.get_fontsize() * px) for t in texts
                     if t.get_text() and t.get_fontsize() * px < MIN_TEXT_PX]
            assert not small, small
