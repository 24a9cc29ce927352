# Every target sets up .venv on first use: a fresh machine needs only python3 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MODE ?= raw

.PHONY: help require-date sample raw backfill feed validate dq-score preview report bench test fuzz lint clean

help:
	@echo "make sample DATE=YYYY-MM-DD    write data/sample/DATE/ (committed demo day)"
	@echo "make raw DATE=YYYY-MM-DD       write data/raw/DATE/ and grow the local patient registry"
	@echo "  ... DEFECTS=light|realistic|hostile|path.yaml   also a dirty copy DATE.dirty/ with its answer key (sample, raw, backfill, feed)"
	@echo "make validate DATE=YYYY-MM-DD MODE=raw|sample   check a written day against the contracts"
	@echo "make validate DIR=path/to/day  check a day folder anywhere (batch date from its manifest or name)"
	@echo "make backfill START=... END=... [MODE=raw|sample] [WORKERS=N] [DEFECTS=...]   every day of a range, in parallel"
	@echo "make dq-score TRUTH=DIR.dirty FLAGS=flags.csv   precision and recall of your checks' flags against the answer key"
	@echo "make feed START=... END=... [MODE=raw|sample] [WORKERS=N] [DEFECTS=...] [ENCOUNTERS=N]   event-time daily feed: data/feed/MODE/DATE/ (and DATE.dirty/)"
	@echo "make preview SCENARIO=name     PNG of a scenario's trajectories (preview_<name>.png)"
	@echo "make report DATE=... MODE=...  HTML report of a published day"
	@echo "make bench                     start-up, rows/s (1 and 2 workers), notes/s, write+validate cost, memory (~3 min)"
	@echo "make test                      lint (ruff) then the test suite (pytest)"
	@echo "make fuzz [EXAMPLES=N]         random config edits: a valid day or a one-line refusal (default 500)"
	@echo "make clean                     remove .venv, caches and data/raw"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,plots]'
	@touch $(STAMP)

require-date:
	@if [ -z "$(DATE)" ]; then echo "error: DATE is required, e.g. make $(MAKECMDGOALS) DATE=2026-01-15" >&2; exit 2; fi

sample: require-date $(STAMP)
	$(BIN)/datagen generate --date $(DATE) --mode sample $(if $(DEFECTS),--defects $(DEFECTS),)

raw: require-date $(STAMP)
	$(BIN)/datagen generate --date $(DATE) --mode raw $(if $(DEFECTS),--defects $(DEFECTS),)

backfill: $(STAMP)
	@if [ -z "$(START)" ] || [ -z "$(END)" ]; then echo "error: START and END are required, e.g. make backfill START=2026-01-01 END=2026-01-31" >&2; exit 2; fi
	$(BIN)/datagen backfill --start $(START) --end $(END) --mode $(MODE) $(if $(WORKERS),--workers $(WORKERS),) $(if $(DEFECTS),--defects $(DEFECTS),)

feed: $(STAMP)
	@if [ -z "$(START)" ] || [ -z "$(END)" ]; then echo "error: START and END are required, e.g. make feed START=2026-01-15 END=2026-01-21" >&2; exit 2; fi
	$(BIN)/datagen feed --start $(START) --end $(END) --mode $(MODE) $(if $(WORKERS),--workers $(WORKERS),) $(if $(DEFECTS),--defects $(DEFECTS),) $(if $(ENCOUNTERS),--encounters $(ENCOUNTERS),)

validate: $(STAMP)
	@if [ -z "$(DIR)$(DATE)" ]; then echo "error: DATE or DIR is required, e.g. make validate DATE=2026-01-15 MODE=sample, or make validate DIR=data/sample/2026-01-15" >&2; exit 2; fi
	$(BIN)/datagen validate $(if $(DIR),"$(DIR)" $(if $(DATE),--date $(DATE),),--date $(DATE) --mode $(MODE))

dq-score: $(STAMP)
	@if [ -z "$(TRUTH)" ] || [ -z "$(FLAGS)" ]; then echo "error: TRUTH and FLAGS are required, e.g. make dq-score TRUTH=data/sample/2026-01-15.dirty FLAGS=flags.csv" >&2; exit 2; fi
	$(BIN)/datagen dq-score --truth $(TRUTH) --flags $(FLAGS)

preview: $(STAMP)
	@if [ -z "$(SCENARIO)" ]; then echo "error: SCENARIO is required, e.g. make preview SCENARIO=sepsis" >&2; exit 2; fi
	$(BIN)/datagen preview --scenario $(SCENARIO)

report: require-date $(STAMP)
	$(BIN)/datagen report --date $(DATE) --mode $(MODE)

bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py

lint: $(STAMP)
	$(BIN)/ruff check data_generator tests benchmarks

fuzz: $(STAMP)
	FUZZ_EXAMPLES=$(or $(EXAMPLES),500) $(BIN)/pytest -q -p no:cacheprovider tests/test_config_fuzz.py

test: lint
	$(BIN)/pytest -n 2

clean:
	rm -rf $(VENV) data/raw .pytest_cache .ruff_cache build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
