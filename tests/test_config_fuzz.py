"""Random edits of the shipped config: each run publishes a valid day or refuses in one line.

A Hypothesis strategy picks one YAML file under config/, one place in it and one edit (delete
the key, give it the wrong type, null, a negative or absurd number, rename it, add an unknown
key beside it, break a template string) and runs `datagen generate` in this process. The run
must either publish a day that validates, or exit with a refusal code and a single
`datagen: ` line (a day that broke its contract: that line, then the rows), never a traceback
and never a published day. `make test` runs a few derandomised examples; `make fuzz`
runs many (FUZZ_EXAMPLES, random each time).
"""

from __future__ import annotations

import datetime as dt
import os
from functools import cache
from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import CONFIG
from tests.test_properties import CI, DAY_FILES, NO_SHRINK, REFUSAL_CODES, run_cli, workspace

DAY = dt.date(2026, 1, 15)
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
FUZZ_CONFIG = settings(max_examples=EXAMPLES, phases=NO_SHRINK,
                       **{**CI, "derandomize": "FUZZ_EXAMPLES" not in os.environ})
FILES = sorted(str(p.relative_to(CONFIG.parent)) for p in CONFIG.parent.rglob("*.yaml"))
EDITS = ["delete", "string", "null", "negative", "huge", "list", "rename", "unknown_key", "template", "unclosed"]


@cache
def _places(name: str) -> tuple[tuple, ...]:
    """Every key path in a YAML file (mappings and list items), shallow ones first."""
    data = yaml.safe_load((CONFIG.parent / name).read_text(encoding="utf-8"))
    out = []

    def walk(node, path):
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            out.append((*path, key))
            walk(value, (*path, key))
    walk(data, ())
    return tuple(out)


@st.composite
def config_edits(draw) -> tuple[str, tuple, str]:
    name = draw(st.sampled_from(FILES))
    places = _places(name)
    return name, draw(st.sampled_from(places)) if places else (), draw(st.sampled_from(EDITS))


def _apply(root: Path, name: str, path: tuple, edit: str) -> None:
    file = root / name
    data = yaml.safe_load(file.read_text(encoding="utf-8"))
    if not path:
        return
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    value = parent[key]
    if edit == "delete":
        del parent[key]
    elif edit == "rename" and isinstance(parent, dict):
        parent[f"{key}_x"] = parent.pop(key)
    elif edit == "unknown_key" and isinstance(parent, dict):
        parent["not_a_known_key"] = 1
    elif edit in ("template", "unclosed") and isinstance(value, str):
        parent[key] = value + (" {{ patient.nonexistent }}" if edit == "template" else " {{ broken")
    else:
        parent[key] = {"string": "x", "null": None, "negative": -7, "huge": 10**12, "list": [],
                       "delete": None, "rename": "x", "unknown_key": "x", "template": 3, "unclosed": 3}[edit]
    file.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


@FUZZ_CONFIG
@given(change=config_edits())
def test_a_random_config_edit_gives_a_valid_day_or_a_one_line_refusal(capsys, change):
    """Whatever one edit does to the shipped config, `datagen generate` publishes a valid day or
    exits with a refusal code and one `datagen: ` line, writing no day."""
    name, path, edit = change
    with workspace(None) as (tmp, config):
        _apply(config.parent, name, path, edit)
        argv = ["generate", "--date", DAY.isoformat(), "--mode", "sample", "--config", str(config),
                "--out-root", str(tmp / "out"), "--encounters", "8", "--quiet"]
        code, _, err = run_cli(capsys, argv)
        folder = tmp / "out" / "sample" / DAY.isoformat()
        if code == 0:
            assert sorted(p.name for p in folder.iterdir() if p.name in DAY_FILES) == sorted(DAY_FILES)
        else:
            assert code in REFUSAL_CODES, (name, path, edit, code, err)
            lines = err.splitlines()
            if code == 4:  # the day broke its contract: nothing published, the report lists the rows
                assert lines[0].startswith("datagen: contract:") and "nothing published" in lines[0], err
            else:
                assert len(lines) == 1 and lines[0].startswith("datagen: "), (name, path, edit, err)
            assert not folder.exists()


def test_the_edits_reach_every_config_file():
    """The strategy can edit every YAML file of the shipped config (nothing is out of its reach)."""
    assert {"generator.yaml", "notes/templates.yaml", "reference/labs.yaml"} <= set(FILES)
    assert all(_places(name) for name in FILES)
