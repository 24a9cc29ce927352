"""Checked configs kept between runs (config_cache): a load from the cache equals a fresh one,
and any change to any file of the config, to its scenario folder or to the package's code is read
and checked afresh."""

from __future__ import annotations

import dataclasses
import marshal
import shutil

import jinja2
import pytest

from data_generator import config, config_cache, note_context
from data_generator.errors import ConfigError
from tests.conftest import copy_config, edit_yaml


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv(config_cache.ENV, str(folder))
    return folder


@pytest.fixture
def checks(monkeypatch):
    """How many times the cross-checks ran."""
    calls = []
    real = config.crosscheck.check

    def counted(*args, **kw):
        calls.append(1)
        return real(*args, **kw)
    monkeypatch.setattr(config.crosscheck, "check", counted)
    return calls


def _fields(cfg) -> dict:
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}


def test_a_second_load_comes_from_the_cache_and_equals_a_fresh_one(tmp_path, cache, checks, monkeypatch):
    """The second load does not parse or cross-check again, and gives what a load without the
    cache gives (every field, the scenarios' file paths included)."""
    path = copy_config(tmp_path)
    first = config.load_config(path)
    assert len(checks) == 1 and len(list(cache.glob("config-*.pickle"))) == 1
    second = config.load_config(path)
    assert len(checks) == 1
    monkeypatch.setenv(config_cache.ENV, "off")
    fresh = config.load_config(path)
    assert len(checks) == 2
    assert _fields(second) == _fields(first) == _fields(fresh)
    assert second.scenarios["sepsis"]["_file"] == str(path.parent / "scenarios" / "sepsis.yaml")


@pytest.mark.parametrize("file, breaks, found", [
    ("generator.yaml", lambda d: d["scenarios"]["weights"].pop("dka"), "has no weight"),
    ("reference/labs.yaml", lambda d: d["panels"]["CBC"]["tests"].append("wbcx"), "unknown test"),
    ("scenarios/sepsis.yaml", lambda d: d["acuity"].__setitem__(1, 0.5), "sum to 1"),
])
def test_an_edit_to_any_file_of_the_config_is_checked_afresh(tmp_path, cache, checks, file, breaks, found):
    """After a cached load, an edit that breaks a cross-check is reported, whichever file it is in."""
    path = copy_config(tmp_path)
    config.load_config(path)
    assert (path.parent / file).exists()
    edit_yaml(path.parent / file, breaks)
    with pytest.raises(ConfigError) as err:
        config.load_config(path)
    assert found in err.value.problem and len(checks) == 2


def test_a_new_scenario_file_is_read(tmp_path, cache, checks):
    path = copy_config(tmp_path)
    config.load_config(path)
    shutil.copy(path.parent / "scenarios" / "dka.yaml", path.parent / "scenarios" / "dka_copy.yaml")
    with pytest.raises(ConfigError) as err:
        config.load_config(path)
    assert "'dka_copy' has no weight" in err.value.problem


def test_a_valid_edit_is_seen(tmp_path, cache, checks):
    path = copy_config(tmp_path)
    assert config.load_config(path).labs["tests"]["wbc"]["decimals"] != 3
    edit_yaml(path.parent / "reference" / "labs.yaml",
              lambda d: d["tests"]["wbc"].__setitem__("decimals", 3))
    assert config.load_config(path).labs["tests"]["wbc"]["decimals"] == 3
    assert config.load_config(path).labs["tests"]["wbc"]["decimals"] == 3 and len(checks) == 2


def test_changed_package_code_is_a_new_entry(tmp_path, cache, checks, monkeypatch):
    path = copy_config(tmp_path)
    config.load_config(path)
    monkeypatch.setattr(config_cache, "code_stamp", lambda: "other code")
    config.load_config(path)
    assert len(checks) == 2 and len(list(cache.glob("config-*.pickle"))) == 2


def test_a_damaged_entry_or_an_unusable_folder_is_no_cache(tmp_path, cache, checks, monkeypatch):
    path = copy_config(tmp_path)
    want = _fields(config.load_config(path))
    [entry] = cache.glob("config-*.pickle")
    entry.write_bytes(b"not a pickle")
    assert _fields(config.load_config(path)) == want and len(checks) == 2
    assert _fields(config.load_config(path)) == want and len(checks) == 2  # written again whole
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv(config_cache.ENV, str(blocked / "cache"))
    assert _fields(config.load_config(path)) == want and len(checks) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "cache", "config"]


def test_off_writes_nothing_and_old_entries_are_pruned(tmp_path, cache, monkeypatch):
    monkeypatch.setenv(config_cache.ENV, "off")
    config.load_config(copy_config(tmp_path / "a"))
    assert not cache.exists()
    monkeypatch.setenv(config_cache.ENV, str(cache))
    monkeypatch.setattr(config_cache, "KEEP", 2)
    for name in "bcd":
        config.load_config(copy_config(tmp_path / name))
    assert len(list(cache.glob("config-*.pickle"))) == 2 and not list(cache.glob(".tmp-*"))


def test_the_folder_is_chosen_by_the_environment(tmp_path, monkeypatch):
    """DATAGEN_CACHE_DIR, else XDG_CACHE_HOME/datagen, else ~/.cache/datagen; no home folder: no cache."""
    monkeypatch.setenv(config_cache.ENV, str(tmp_path / "chosen"))
    assert config_cache.folder() == tmp_path / "chosen"
    monkeypatch.delenv(config_cache.ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert config_cache.folder() == tmp_path / "xdg" / "datagen"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert config_cache.folder() == tmp_path / "home" / ".cache" / "datagen"
    monkeypatch.delenv("HOME")

    def no_home(cls):
        raise RuntimeError("Could not determine home directory.")
    monkeypatch.setattr(config_cache.Path, "home", classmethod(no_home))
    assert config_cache.folder() is None


def test_the_templates_the_checks_compiled_are_kept_with_the_config(tmp_path, cache, monkeypatch):
    """A load from the cache brings the code of the templates the checks compiled, equal to what
    compiling them gives; a run then builds them from it without compiling them again."""
    path = copy_config(tmp_path)
    config.load_config(path)
    monkeypatch.setattr(note_context, "_CODE", {})
    config.load_config(path)
    kept = note_context.compiled_code()
    assert len(kept) >= 20 and any(s.startswith("{% for") for s in kept)
    env = note_context.environment()
    for source, code in kept.items():
        assert marshal.loads(code) == env.compile(source), source
    compiled = []
    real = jinja2.Environment.compile
    monkeypatch.setattr(jinja2.Environment, "compile",
                        lambda self, *a, **k: compiled.append(a[0]) or real(self, *a, **k))
    for source in kept:
        assert isinstance(note_context._compiled(source), jinja2.Template)
    note_context._compiled("{{ 1 + 1 }}")
    assert compiled == ["{{ 1 + 1 }}"]  # only the template not kept was compiled
