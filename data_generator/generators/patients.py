"""Step 3: the day's active patients: exactly those referenced by its encounters, once each."""

from __future__ import annotations

import numpy as np

from data_generator.generators.encounters import Encounters
from data_generator.generators.registry import Registry


def generate_patients(registry: Registry, encounters: Encounters) -> dict[str, np.ndarray]:
    rows = np.unique(encounters.patient_index)  # registry order = patient_id order
    return {k: v[rows] for k, v in registry.table.items()}
