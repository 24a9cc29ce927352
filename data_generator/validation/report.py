"""What validation found: the Report (violations, capped, and counts per rule) and how rows
of a batch are reported into it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np

from data_generator.contracts import Violation
from data_generator.errors import ContractError
from data_generator.validation.batches import Batch, Kept


@dataclass
class Report:
    """What validate_day found: `.ok`, `.violations` (capped), `.counts` per rule, `.rows`."""

    max_violations: int = 10000
    violations: list[Violation] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.counts

    def add(self, violation: Violation) -> None:
        self.counts[violation.rule] += 1
        if len(self.violations) < self.max_violations:
            self.violations.append(violation)

    def merge(self, other: Report, shift: int = 0) -> None:
        """Count in another report's findings (of a part of a file whose lines are moved on by
        `shift`), as if they had been added here."""
        for v in other.violations:
            self.add(v if v.line is None else replace(v, line=v.line + shift))
        self.counts.update(other.counts - Counter(v.rule for v in other.violations))

    def summary(self, show: int = 20) -> list[str]:
        lines = [f"{name}: {n} rows" for name, n in self.rows.items()]
        if self.ok:
            return lines + ["ok: every row meets its contract"]
        total = sum(self.counts.values())
        rules = ", ".join(f"{rule} {n}" for rule, n in sorted(self.counts.items()))
        lines.append(f"{total} violations ({rules})")
        lines += [str(v) for v in self.violations[:show]]
        if total > show:
            lines.append(f"+{total - show} more")
        return lines

    def raise_if_failed(self) -> None:
        """ContractError naming the first violation, for the CLI edge."""
        if not self.ok:
            first = self.violations[0]
            raise ContractError(str(first), f"{sum(self.counts.values())} contract violations",
                                hint="run validation for the full list")


def report_rows(report: Report, table: Batch | Kept, rows: np.ndarray, col: str, rule: str,
                 detail: str, value) -> None:
    """One violation per row; past the cap only the count grows (no objects are built)."""
    room = max(report.max_violations - len(report.violations), 0)
    for i in rows[:room]:
        report.add(Violation(table.file, int(table.lines[i]), col, rule, value(i), detail))
    if len(rows) > room:
        report.counts[rule] += len(rows) - room
