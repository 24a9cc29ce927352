"""Synthetic clinical data generator: one validated daily batch of five contracted files."""

__version__ = "0.1.0"
