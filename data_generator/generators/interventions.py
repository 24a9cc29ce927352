"""Treatments as timed events of an encounter (fluids, antibiotics, vasopressors, oxygen
escalation, transfusion, transfers between units).

The `Interventions` shape is what the rest of the pipeline reads (notes test their treatment
claims against it). A day without intervention rules has `Interventions.none()`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Interventions:
    enc: np.ndarray        # encounter row of each event (int64); sorted by encounter, then start
    hours: np.ndarray      # start, hours since admission
    end_hours: np.ndarray  # end, hours since admission (equal to `hours` for a one-off, e.g. a unit of blood)
    kind: np.ndarray       # catalogue name of the treatment, e.g. "norepinephrine", "red_cells", "niv"
    detail: np.ndarray     # what the chart says beyond the kind (dose, destination unit); "" if nothing

    def __len__(self) -> int:
        return len(self.enc)

    @staticmethod
    def none() -> Interventions:
        return Interventions(np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0, object),
                             np.zeros(0, object))
