"""Defects on purpose: a dirty copy of a published day, and the answer key that says what was done.

    apply_defects(clean_folder, profile) -> DirtyResult     (DIR/<mode>/<date>.dirty/)

A profile (config/defects/*.yaml, checked against schemas/defect_profile.schema.json) gives a
rate per defect kind; the catalogue it names (config/reference/defects.yaml) says what each kind
changes and where. The clean day is only read: the dirty files are written beside it with the
same names, plus `_defects.jsonl` (one line per injected defect) and a manifest whose
`defects.counts` gives the count per class. Randomness comes from rng streams keyed by the
day's seed and date and the kind's name, so the same seed gives the same defects. A feed day
(`datagen feed --defects`) is handled under the feed contracts, its dirty copy beside it as
`DIR/feed/<mode>/<date>.dirty/`.

- profile.py: loading and checking a profile and its catalogue
- table.py: a day's files as rows of text cells, and writing them back
- context.py: what the kinds work on (the tables, the rng streams, the record of defects)
- kinds.py: every kind by name; late.py (a feed day's own late rows and corrections, listed),
  rows.py (duplicates, time, referential), cells.py (unit mix-ups, swapped and shifted values,
  missingness, text) and drift.py (schema drift) hold them
- engine.py: `apply_defects`: the kinds in order, the answer key, the atomic publish
- catch.py: which injected defects the contracts catch (`datagen validate` on a dirty day)
- score.py: precision and recall of any tool's flags against the answer key (`datagen dq-score`)
"""

from data_generator.defects.engine import (
           DIRTY_SUFFIX,
           TRUTH,
           DirtyResult,
           apply_defects,
           dirty_folder,
           dirty_up_to_date,
)
from data_generator.defects.profile import Profile, load_profile

__all__ = ["DIRTY_SUFFIX", "TRUTH", "DirtyResult", "Profile", "apply_defects", "dirty_folder", "dirty_up_to_date",
           "load_profile"]
