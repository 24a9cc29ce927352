"""Config and scenario files are checked before anything runs; each error names file and key."""

from __future__ import annotations

import pytest
import yaml

from data_generator import config
from data_generator.config import load_config
from data_generator.errors import ConfigError
from tests.conftest import ROOT, copy_config, edit_yaml


def _error(path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    line = info.value.line()
    assert "\n" not in line
    return line


def test_repository_config_loads(cfg):
    """The shipped config and every shipped scenario pass their schemas and cross-checks."""
    assert cfg.scenarios
    assert set(cfg.generator["scenarios"]["weights"]) == set(cfg.scenarios)


def test_unknown_key_names_file_and_path(tmp_path):
    """A misspelled key is rejected (never silently ignored) with its key path."""
    path = copy_config(tmp_path, lambda g: g["registry"].update(new_patient_per_day=3))
    msg = _error(path)
    assert "generator.yaml: registry" in msg and "new_patient_per_day" in msg


def test_wrong_type_names_the_key(tmp_path):
    """A string where a number belongs names the key path and the value."""
    path = copy_config(tmp_path, lambda g: g["registry"].update(new_patients_per_day="abc"))
    msg = _error(path)
    assert "registry.new_patients_per_day" in msg and "abc" in msg


@pytest.mark.parametrize("edit, expected", [
    (lambda g: g["registry"].update(new_patients_per_day=0), "registry.new_patients_per_day"),
    (lambda g: g["registry"].update(new_patients_per_day=600, max_total=500), "above registry.max_total"),
    (lambda g: g["scenarios"].update(weights={k: 0 for k in g["scenarios"]["weights"]}), "every weight is 0"),
    (lambda g: g["hospital"].update(timezone="Mars/Olympus_Mons"), "unknown time zone"),
    (lambda g: g["scenarios"]["weights"].update(scurvy=1), "scenarios.weights.scurvy"),
])
def test_bad_generator_settings(tmp_path, edit, expected):
    """Zero counts, impossible totals, all-zero weights, bad zones and unknown scenarios are refused."""
    assert expected in _error(copy_config(tmp_path, edit))


@pytest.mark.parametrize("loader", ["CSafeLoader", "SafeLoader"])
def test_invalid_yaml_gives_file_and_line(tmp_path, monkeypatch, loader):
    """A YAML syntax error points at the file and line, with libyaml's loader or the pure one."""
    monkeypatch.setattr(config, "YAML_LOADER", getattr(yaml, loader))
    path = copy_config(tmp_path)
    lines = path.read_text().splitlines()
    lines[5] = lines[5] + " : : ["
    path.write_text("\n".join(lines))
    msg = _error(path)
    assert "generator.yaml:6" in msg and "invalid YAML" in msg


def test_libyaml_and_pure_loaders_read_the_same_config(monkeypatch):
    """Every shipped config file parses to the same data with libyaml's safe loader (used where
    present) and PyYAML's pure-Python one (the fallback)."""
    assert config.YAML_LOADER is yaml.CSafeLoader  # libyaml is in the pinned PyYAML wheels
    files = sorted((ROOT / "config").rglob("*.yaml"))
    fast = [config.read_yaml(f) for f in files]
    monkeypatch.setattr(config, "YAML_LOADER", yaml.SafeLoader)
    assert [config.read_yaml(f) for f in files] == fast and len(files) >= 20


def test_missing_config_file(tmp_path):
    """A missing config is a clear error, not a traceback."""
    assert "file not found" in _error(tmp_path / "nope.yaml")


def _scenario_error(tmp_path, edit) -> str:
    path = copy_config(tmp_path)
    edit_yaml(path.parent / "scenarios" / "sepsis.yaml", edit)
    return _error(path)


def test_scenario_probabilities_must_sum_to_one(tmp_path):
    """Outcome probabilities that don't sum to 1 are refused, naming the file."""
    msg = _scenario_error(tmp_path, lambda s: s["outcomes"]["recovers"].update(p=0.9))
    assert "sepsis.yaml: outcomes.*.p" in msg and "sum to 1" in msg


def test_scenario_unknown_vital_in_trigger(tmp_path):
    """A trigger on a vital that does not exist names the trigger's key path."""
    msg = _scenario_error(tmp_path, lambda s: s["labs"]["triggers"][0]["when"]["any"][0].update(vital="tempc"))
    assert "sepsis.yaml: labs.triggers.0.when.0.vital" in msg and "tempc" in msg


def test_scenario_unknown_lab(tmp_path):
    """A lab value for a test missing from the catalogue is refused."""
    msg = _scenario_error(tmp_path, lambda s: s["labs"]["values"].update(lactat={"at": {"infection": 3}}))
    assert "labs.values.lactat" in msg


def test_scenario_typo_key_is_refused(tmp_path):
    """An unknown key inside a scenario is reported with the scenario file and path."""
    msg = _scenario_error(tmp_path, lambda s: s["population"].update(male_shar=0.5))
    assert "sepsis.yaml: population" in msg and "male_shar" in msg


def test_template_with_unknown_variable(tmp_path):
    """A note phrase naming a variable the engine does not provide is refused at load."""
    msg = _scenario_error(tmp_path, lambda s: s["notes"]["hpi"].append("Patient {{ pateint.age }} years."))
    assert "sepsis.yaml: notes.hpi" in msg and "pateint" in msg


def test_note_context_names_what_a_note_render_gets():
    """NOTE_CONTEXT, which config checks templates against, is what the note engine renders with:
    each note's context plus its phrases and author."""
    from data_generator.generators.notes import _context, _When
    from data_generator.note_context import NOTE_CONTEXT

    helpers = {"vitals_line": str, "labs_line": str}  # the two formatters generate_notes passes
    context = _context(({}, {}), ({}, {}, {}), {}, _When(1, {}), helpers)
    assert set(context) | {"phrases", "author"} == set(NOTE_CONTEXT)
