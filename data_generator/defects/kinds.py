"""Every defect kind by name, in one table: the kinds run in the profile schema's order
(profile.classes()), each picking its eligible rows or cells, drawing which of them get the defect
with the profile's rate, changing them and recording what it did.

- late.py: late arrivals and corrections (a feed day's own, listed as they are)
- rows.py: duplicates, time, referential
- cells.py: unit mix-ups, swapped and shifted values, missingness, text
- drift.py: schema drift
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from data_generator.defects.cells import (
    copy_forward,
    decimal_shift,
    digit_transposition,
    mar,
    mcar,
    mnar,
    mojibake,
    swapped_pair,
    truncated,
    unit_label_changed,
    unit_label_kept,
)
from data_generator.defects.context import Context
from data_generator.defects.drift import dropped_column, extra_column, renamed_column
from data_generator.defects.late import corrected_result, late_arrival
from data_generator.defects.rows import (
    discharge_before_admit,
    exact_row,
    near_duplicate_patient,
    orphan_encounter,
    out_of_order,
    outside_window,
    patient_mismatch,
    tz_dropped,
    tz_wrong,
)

KINDS: dict[str, Callable[[Context, np.random.Generator, float], None]] = {
    "late_arrival": late_arrival, "corrected_result": corrected_result,
    "exact_row": exact_row, "near_duplicate_patient": near_duplicate_patient,
    "unit_label_kept": unit_label_kept, "unit_label_changed": unit_label_changed,
    "swapped_pair": swapped_pair, "decimal_shift": decimal_shift, "digit_transposition": digit_transposition,
    "mcar": mcar, "mar": mar, "mnar": mnar,
    "tz_dropped": tz_dropped, "tz_wrong": tz_wrong, "outside_window": outside_window, "out_of_order": out_of_order,
    "discharge_before_admit": discharge_before_admit,
    "orphan_encounter": orphan_encounter, "patient_mismatch": patient_mismatch,
    "mojibake": mojibake, "truncated": truncated, "copy_forward": copy_forward,
    "renamed_column": renamed_column, "dropped_column": dropped_column, "extra_column": extra_column,
}
