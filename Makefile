# The README's two commands are `make run` and `make test`; both build the virtualenv first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test demo bench faults clean venv
.DEFAULT_GOAL := test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# Runs the monitor on the example watchlist until Ctrl-C: records to ./banwatch.db, alerts on the
# console unless SLACK_BOT_TOKEN is set. `banwatch check` is the one-shot equivalent.
run: $(STAMP)
	$(BIN)/banwatch --watchlist examples/watchlist.yaml run

# The June 2021 Weibo wave replayed on the platform simulator, console alerts, under 3 minutes.
demo: $(STAMP)
	$(BIN)/python demo/run.py

bench: $(STAMP)
	$(BIN)/python benchmarks/proof.py
	$(BIN)/python benchmarks/service.py
	$(BIN)/python benchmarks/history.py
	$(BIN)/python benchmarks/scaleout.py

# Hostile local servers (a Slack that loses its replies, walls, bombs, a locked database, Redis stopped, workers
# killed...) against the real `banwatch` commands: one table row per fault kind, about 5 minutes. Not part of
# `make test`.
faults: $(STAMP)
	$(BIN)/python benchmarks/faults.py

# The suite in two processes (pytest-xdist): most of its time is real processes waiting on real servers.
# `make test JOBS=0` runs it in one process.
JOBS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
