"""Templates that would fail at render time are config errors at load (exit 3), never tracebacks."""

from __future__ import annotations

import datetime as dt

import pytest

from data_generator import crosscheck
from data_generator.config import load_config
from data_generator.errors import ConfigError
from data_generator.generators import notes as notes_module
from data_generator.note_context import LAB_RESULT, VITAL_KEYS, WORST_HIGH, WORST_LOW, example_contexts
from data_generator.pipeline import generate_day
from tests.conftest import copy_config, datagen

HOSTILE = "{{ ''.__class__.__mro__[1].__subclasses__() }}"


def _edit(tmp_path, scenario: str, edit) -> object:
    return copy_config(tmp_path, edit, f"scenarios/{scenario}.yaml")


@pytest.mark.parametrize(("text", "problem"), [
    (HOSTILE, "SecurityError"),
    ("{{ patient.pronon }} reports vomiting.", "UndefinedError"),
    ("Admitted {{ encounter.previous_stay.date }}.", "UndefinedError"),  # a first stay has no earlier one
    ("{{ patient.age | wordwrap(None) }}", "AttributeError"),  # a filter that fails on the value
])
def test_a_phrase_that_cannot_render_fails_at_load_naming_it(tmp_path, text, problem):
    """A sandbox violation, a misspelt attribute, an unguarded earlier stay or a failing filter in a
    scenario phrase is a ConfigError naming the file and key, found before anything is generated."""
    def edit(d):
        d["notes"]["hpi"].append(text)
    with pytest.raises(ConfigError) as err:
        load_config(_edit(tmp_path, "dka", edit))
    assert "dka.yaml: notes.hpi." in err.value.where and problem in err.value.problem


def test_a_catalogue_template_with_a_misspelt_attribute_fails_at_load(tmp_path):
    """`{{ patient.agee }}` in config/notes/templates.yaml is refused with the template's key path."""
    def edit(d):
        name = next(iter(d["note_types"]))
        d["note_types"][name]["templates"][0] += " {{ patient.agee }}"
    with pytest.raises(ConfigError) as err:
        load_config(copy_config(tmp_path, edit, "notes/templates.yaml"))
    assert err.value.where.startswith("notes catalogue: note_types.") and "agee" in err.value.problem


@pytest.mark.parametrize("command", [["generate", "--date", "2026-01-15", "--mode", "sample"],
                                     ["preview", "--scenario", "dka"]])
def test_generate_and_preview_refuse_a_hostile_template_in_one_line(tmp_path, command):
    """Both commands exit 3 with one line naming the file; no traceback, nothing written."""
    config = _edit(tmp_path / "cfg", "dka", lambda d: d["notes"]["hpi"].append(HOSTILE))
    out = tmp_path / "out"
    out.mkdir()
    extra = ["--out-root", str(out)] if command[0] == "generate" else ["--out", str(out / "p.png")]
    done = datagen(*command, "--config", str(config), *extra)
    assert done.returncode == 3, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "dka.yaml" in done.stderr
    assert "Traceback" not in done.stderr and not list(out.iterdir())


def test_a_render_failure_that_escapes_the_check_is_still_a_config_error(tmp_path, monkeypatch):
    """The note engine turns any render-time failure into a ConfigError naming the scenario file."""
    monkeypatch.setattr(crosscheck, "_check_renders", lambda *a, **k: None)
    cfg = load_config(_edit(tmp_path / "cfg", "dka", lambda d: d["notes"]["hpi"].__setitem__(
        slice(None), [HOSTILE])))
    (tmp_path / "out").mkdir()
    with pytest.raises(ConfigError) as err:
        generate_day(cfg, dt.date(2026, 1, 15), "sample", tmp_path / "out", encounters=200)
    assert "dka.yaml" in err.value.where and "SecurityError" in err.value.problem


def test_example_contexts_have_the_engines_shape(tmp_path, monkeypatch):
    """The contexts config checking renders against hold the same names, at every level, as the
    contexts the note engine builds for a real day whose progress notes read every lab entry and
    vital, worst ones included (a note's context holds what its texts can read: see
    test_note_reach)."""
    def read_entries(notes: dict) -> None:
        notes["note_types"]["progress"]["templates"][0] += \
            "{{ [lab, first, latest, worst] | map('length') | list }}\n"
    cfg = load_config(copy_config(tmp_path, read_entries, "notes/templates.yaml"))
    seen = []
    real = notes_module._context

    def spy(*args, **kwargs):
        context = real(*args, **kwargs)  # each name's values, one per note
        seen.extend(dict(zip(context, values, strict=True)) for values in zip(*context.values(), strict=True))
        return context
    monkeypatch.setattr(notes_module, "_context", spy)
    (tmp_path / "out").mkdir()
    generate_day(cfg, dt.date(2026, 1, 15), "sample", tmp_path / "out", encounters=60)
    full, arrival = example_contexts(cfg.notes, cfg.labs)
    assert len(seen) > 100
    assert {frozenset(c) for c in seen} == {frozenset(full)} == {frozenset(arrival)}
    assert {frozenset(c["patient"]) for c in seen} == {frozenset(full["patient"])}
    assert {frozenset(c["encounter"]) for c in seen} == {frozenset(full["encounter"])}
    assert {frozenset(c["shift"]) for c in seen} == {frozenset(full["shift"])}
    assert set().union(*(c["latest"] for c in seen)) == set(VITAL_KEYS) == set(full["latest"])
    assert set().union(*(c["worst"] for c in seen)) == set(WORST_HIGH + WORST_LOW) == set(full["worst"])
    entries = [r for c in seen for r in c["lab"].values() if not isinstance(r, str)]  # where a text reads them
    assert entries and {frozenset(r) for r in entries} == {frozenset(LAB_RESULT)}
    assert any(c["encounter"]["previous_stay"] is None for c in seen)
