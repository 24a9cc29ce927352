"""Config cross-checks found by random config edits: each is a one-line ConfigError at load."""

from __future__ import annotations

import pytest

from data_generator.config import load_config
from data_generator.errors import ConfigError
from tests.conftest import copy_config


def test_a_reversed_range_is_refused_naming_it(tmp_path):
    """A [low, high] pair written high first (a panel's turnaround) fails at load, not in a random draw."""
    def edit(d):
        d["panels"]["CBC"]["turnaround_minutes"] = [75, 25]
    with pytest.raises(ConfigError) as err:
        load_config(copy_config(tmp_path, edit, "reference/labs.yaml"))
    assert err.value.where.endswith("labs.yaml: panels.CBC.turnaround_minutes") and "low end" in err.value.problem


def test_a_vital_clip_outside_its_contract_is_refused(tmp_path):
    """A clip that lets the generator chart a value the vitals contract refuses (pain below 0) fails at load."""
    def edit(d):
        d["vitals"]["pain_score"]["clip"] = [-7, 10]
    with pytest.raises(ConfigError) as err:
        load_config(copy_config(tmp_path, edit, "reference/vitals.yaml"))
    assert err.value.where == "vitals catalogue: vitals.pain_score.clip"


@pytest.mark.parametrize(("key", "value"), [("dispositions", "home_health"), ("o2_devices", "niv"),
                                            ("sex_words", "F")])
def test_note_words_cover_every_value_the_generator_uses(tmp_path, key, value):
    """Removing the words for a disposition, an oxygen device or a sex the generator uses fails at load."""
    def edit(d):
        del d[key][value]
    with pytest.raises(ConfigError) as err:
        load_config(copy_config(tmp_path, edit, "notes/templates.yaml"))
    assert key in str(err.value) or value in str(err.value)  # the schema or a cross-check names it


def test_a_misspelt_vital_lists_the_names_it_could_be(tmp_path):
    """`heart_rat:` under a scenario's vitals names the allowed vitals, not 'or 6 other candidates'."""
    def edit(d):
        d["vitals"]["heart_rat"] = d["vitals"].pop("heart_rate")
    with pytest.raises(ConfigError) as err:
        load_config(copy_config(tmp_path, edit, "scenarios/sepsis.yaml"))
    text = str(err.value)
    assert "other candidates" not in text and '"heart_rate"' in text and '"temp_c"' in text, text
