# Two commands for a newcomer: `make demo` and `make test`. Both build the virtualenv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format clean browser bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/engage demo

# The survey page's browser test drives Debian's Chromium (never a downloaded browser), with a
# CJK font for the Chinese page's screenshot. Installed when missing (needs root or sudo).
browser:
	@test -x /usr/bin/chromium && fc-list :lang=zh | grep -q . || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-zenhei)

test: $(STAMP) browser
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q

# Sync and push against the sandbox with 50 ms latency, 10,000 and 100,000 deals (several
# minutes; `.venv/bin/python benchmarks/sync_push.py --quick` does 10,000 only).
bench: $(STAMP)
	$(BIN)/python benchmarks/sync_push.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache engage-demo.db engage-demo.db-wal engage-demo.db-shm engage-demo.db.migrate-lock demo-jira.toml demo-pingcode.toml engage-demo.toml
