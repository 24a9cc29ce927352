"""Every clinical source code the config cites is listed in docs/clinical_sources.md."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE = re.compile(r"(?<!FHIR )(?<!the )\b([VLSHOCDPKFNAR](?:[1-9]|1[0-1]))\b")  # not "FHIR R4"


def _listed() -> set[str]:
    text = (ROOT / "docs" / "clinical_sources.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| ([A-Z]\d+) \|", text, flags=re.MULTILINE))


def test_every_cited_source_code_is_listed():
    """A code such as S4 or A3 in a config file resolves to an entry of docs/clinical_sources.md."""
    listed = _listed()
    assert {"S4", "A3", "R1", "C1", "L11"} <= listed
    missing = {}
    for path in sorted((ROOT / "config").rglob("*.yaml")):
        for code in CODE.findall(path.read_text(encoding="utf-8")):
            if code not in listed:
                missing.setdefault(code, path.name)
    assert not missing, missing


def test_no_file_points_to_a_document_the_repository_lacks():
    """Config and docs cite docs/clinical_sources.md, not a reference sheet kept outside the repository."""
    for path in [*(ROOT / "config").rglob("*.yaml"), *(ROOT / "docs").glob("*.md"), ROOT / "README.md"]:
        assert "clinical_reference.md" not in path.read_text(encoding="utf-8"), path
