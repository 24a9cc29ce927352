"""The design document's entry point: one day, generated, validated and published.

    python data_generator/generate_daily_batch.py --date YYYY-MM-DD --mode raw|sample [options]

The same as `datagen generate ...` (every option of `datagen generate --help` applies). This
file is only the door: the day pipeline is data_generator/pipeline.py, the command line
data_generator/cli.py.
"""

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script path: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data_generator.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main(["generate", *sys.argv[1:]]))
