"""The one validator: every row of every file of a day, checked against its contract.

    validate_day(folder, batch_date=None) -> Report   (never raises on bad data)

Per file: the header, then each column as a whole, then per-test conditionals, then any other
schema construct row by row. Across rows and files: the `x-*` rules of the schemas (keys,
references, time windows, row rules, batch date). A day is either text (the contracts'
CSV/JSONL files) or Parquet (`<stem>.parquet`), detected from the files present.

- day.py: `validate_day` (and `validate_feed_day` for a feed day), the files in dependency order
  and the manifest; `DayCheck`, the same checks for a day written in parts (each part checked
  where it was written, the whole-file rules once the parts are in); what a day folder is
  (`holds_a_day`) and the batch date it states (`stated_batch_date`)
- readers.py: CSV, JSONL and Parquet files as batches of typed columns (tolerant of damage)
- columns.py: each column's cells against its schema
- rules.py: the rules across rows and files
- batches.py: the in-memory batch and what is kept of a whole file
- report.py: the Report that collects violations
"""

from data_generator.contracts import FILES, Violation
from data_generator.reading import optional_present
from data_generator.validation.day import day_format, holds_a_day, stated_batch_date, validate_day, validate_feed_day
from data_generator.validation.report import Report

__all__ = ["FILES", "Report", "Violation", "day_format", "holds_a_day", "optional_present", "stated_batch_date",
           "validate_day", "validate_feed_day"]
