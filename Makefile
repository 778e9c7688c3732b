# One command each: `make demo` runs the demo on the embedded default (SQLite);
# `make test` installs the test dependencies and runs lint, types and the tests.
VENV ?= .venv
PYTHON ?= python3

# The `fast` extra (mysqlclient, a C driver for reading MariaDB) builds against
# libmariadb; where its headers are missing, PyMySQL reads instead (.ci/run installs them).
FAST := $(shell (pkg-config --exists libmariadb || pkg-config --exists mysqlclient) 2>/dev/null && echo ,fast)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test$(FAST)]'
	touch $@

.PHONY: install demo test lint
install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/syncbeat demo

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: lint
	$(VENV)/bin/pytest

# `make bench`: the benchmark harness (benchmarks/run.py) against the PostgreSQL and MariaDB
# servers of SYNCBEAT_BENCH_PG / SYNCBEAT_BENCH_MARIADB. Its extras (dlt, pyarrow, connectorx,
# and the ingestr and Sling binaries, shipped in wheels) are the `bench` group, installed
# into the same venv, never runtime dependencies. The raw cross-engine pipes need the
# `mariadb` client beside `psql` (apt-get install mariadb-client postgresql-client).
# Options: make bench BENCH_ARGS="--quick" (see benchmarks/run.py --help).
BENCH_ARGS ?=
$(VENV)/.bench-installed: pyproject.toml $(VENV)/.installed
	$(VENV)/bin/pip install --quiet -e '.[bench]'
	touch $@

# `make chaos`: the seeded chaos suite on its own (tests/chaos; needs the PostgreSQL and
# MariaDB servers). CHAOS_ARGS="--seed 1234" replays a run; "--soak 30" runs 30 minutes.
CHAOS_ARGS ?=
.PHONY: chaos
chaos: $(VENV)/.installed
	$(VENV)/bin/python -m tests.chaos.runner $(CHAOS_ARGS)

.PHONY: bench
bench: $(VENV)/.bench-installed
	$(VENV)/bin/python benchmarks/run.py $(BENCH_ARGS)

# `make bench-verify`: verify and repair timed beside the sync they check, in one run
# (benchmarks/verify_bench.py; VERIFY_ARGS="--rows 100000 --reps 1" for a quick look).
VERIFY_ARGS ?=
.PHONY: bench-verify
bench-verify: $(VENV)/.installed
	$(VENV)/bin/python benchmarks/verify_bench.py $(VERIFY_ARGS)
