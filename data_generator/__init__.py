"""Synthetic clinical data generator: one validated daily batch of five contracted files.

    from data_generator import load_day
    day = load_day("data/sample/2026-01-15")    # {"patients": DataFrame, "encounters": ..., ...}
"""

__version__ = "0.1.0"
__all__ = ["__version__", "load_day"]


def __getattr__(name: str):
    """`load_day` is imported on first use, so importing any part of the package stays light."""
    if name == "load_day":
        from data_generator.reading import load_day

        return load_day
    raise AttributeError(f"module 'data_generator' has no attribute {name!r}")
