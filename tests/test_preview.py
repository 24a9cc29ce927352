"""The scenario preview: one PNG, one line per simulated encounter, nothing else touched."""

from __future__ import annotations

import struct

import pytest

from data_generator import registry_store
from data_generator.errors import OutputError, UsageError
from data_generator.preview import DPI, FIGSIZE, MARKER, SERIES, key_labs, render_preview
from tests.conftest import datagen

N = 120  # large enough that every sepsis branch (the rarest has p = 0.11) occurs


@pytest.fixture(scope="module")
def sepsis(cfg, tmp_path_factory):
    return render_preview(cfg, "sepsis", tmp_path_factory.mktemp("preview") / "sepsis.png", n=N)


def _png_size(path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def _panels(fig, kind: str) -> dict:
    return {ax.get_label().split("/", 1)[1]: ax for ax in fig.axes if ax.get_label().startswith(kind + "/")}


def test_png_has_the_fixed_size(sepsis):
    """The PNG is written at the fixed figure size and the result reports that size."""
    expected = (round(FIGSIZE[0] * DPI), round(FIGSIZE[1] * DPI))
    assert _png_size(sepsis.path) == expected
    assert sepsis.size == expected


def test_one_line_per_encounter_in_every_vitals_panel(sepsis):
    """Each vitals panel draws exactly one series line per encounter, phase markers apart."""
    panels = _panels(sepsis.figure, "vitals")
    assert set(panels) == {"heart_rate", "resp_rate", "sbp", "map", "spo2", "temp_c"}  # sepsis sets no pain
    for name, ax in panels.items():
        series = [line for line in ax.lines if line.get_gid() == SERIES]
        markers = [line for line in ax.lines if line.get_gid() == MARKER]
        assert len(series) == sepsis.vital_lines[name] == N, name
        assert markers, name


def test_lab_panels_are_the_scenarios_key_labs(cfg, sepsis):
    """Lab panels are the tests the scenario values; counted lines match the drawn ones."""
    panels = _panels(sepsis.figure, "labs")
    assert list(panels) == key_labs(cfg, "sepsis") == list(cfg.scenarios["sepsis"]["labs"]["values"])
    for test, ax in panels.items():
        assert len([line for line in ax.lines if line.get_gid() == SERIES]) == sepsis.lab_lines[test]
    assert sepsis.lab_lines["wbc"] == sepsis.lab_lines["lactate"] == N  # drawn on admission for everyone


def test_every_branch_is_in_the_legend(cfg, sepsis):
    """With enough encounters every outcome branch appears, with its count, in the legend."""
    texts = [t.get_text() for legend in sepsis.figure.legends for t in legend.get_texts()]
    for branch in cfg.scenarios["sepsis"]["outcomes"]:
        assert f"{branch} (n={sepsis.branches[branch]})" in texts
    assert sum(sepsis.branches.values()) == N


def test_phase_names_come_from_the_scenario(cfg, sepsis):
    """The phase strip names every phase of every state of the branches simulated."""
    strip = sepsis.figure.axes[0]
    shown = {t.get_text() for t in strip.texts}
    for branch in cfg.scenarios["sepsis"]["outcomes"].values():
        for state in branch.get("states", {}).values():
            assert {p["name"] for p in state["phases"]} <= shown


def test_unknown_scenario_is_a_usage_error(cfg, tmp_path):
    """An unknown scenario name raises UsageError listing the known scenarios; no file is written."""
    with pytest.raises(UsageError) as err:
        render_preview(cfg, "sepsiss", tmp_path / "x.png")
    assert err.value.code == "usage" and err.value.found == "sepsiss"
    assert "sepsis" in err.value.hint and "heart_failure" in err.value.hint
    assert not (tmp_path / "x.png").exists()


def test_missing_output_folder_is_an_output_error(cfg, tmp_path):
    """Writing into a folder that does not exist is refused, not created."""
    with pytest.raises(OutputError):
        render_preview(cfg, "sepsis", tmp_path / "nowhere" / "x.png", n=2)
    assert not (tmp_path / "nowhere").exists()


def test_preview_touches_nothing_but_the_png(cfg, tmp_path, monkeypatch):
    """Run from an empty folder: only the PNG appears; no data/ folder, no registry file."""
    registry = tmp_path / "state" / "patients_master.csv"
    monkeypatch.setattr(registry_store, "DEFAULT_PATH", registry)
    monkeypatch.chdir(tmp_path)
    render_preview(cfg, "observation", tmp_path / "obs.png", n=3)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["obs.png"]


def test_same_seed_same_bytes(cfg, tmp_path):
    """A preview is reproducible: same seed, same PNG; another seed, another picture."""
    paths = [tmp_path / f"{i}.png" for i in range(3)]
    for path, seed in zip(paths, (7, 7, 8), strict=True):
        render_preview(cfg, "observation", path, n=4, seed=seed)
    assert paths[0].read_bytes() == paths[1].read_bytes() != paths[2].read_bytes()


def test_a_scenario_name_that_is_a_path_is_an_unknown_scenario():
    """`datagen preview --scenario ../generator` says "unknown scenario" (exit 2), not an output error."""
    done = datagen("preview", "--scenario", "../generator")
    assert done.returncode == 2, done.stderr
    assert "unknown scenario" in done.stderr and "../generator" in done.stderr
