"""Exporters: published days written in another format: FHIR R4 (one day), OMOP CDM 5.4 and
MEDS (a range of days, sharing research.py).

Each exporter reads the day through data_generator/reading.py, the one day reader, and writes
its output beside the day folders, never inside one.
"""
