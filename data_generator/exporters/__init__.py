"""Exporters: a published day written in another format (FHIR R4 now; OMOP and MEDS to come).

Each exporter reads the day through data_generator/reading.py, the one day reader, and writes
its output beside the day folder, never inside it.
"""
