# Two commands on a fresh machine: `make run` and `make test`.
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTHON ?= python3
PORT ?= 5000
# Operators' console accounts for `make run` (a file outside git; see README "Console").
IVR_OPERATORS_FILE ?= $(abspath .operators)

.PHONY: run test lint bench check call text clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/python -m compileall -q ivr  # some hosts set PYTHONDONTWRITEBYTECODE: compile once here
	touch $(STAMP)

run: $(STAMP) ## start the line on 127.0.0.1 only (embedded store, signatures NOT checked)
	@$(BIN)/ivr check
	@echo ""
	@echo "  The line is starting on http://127.0.0.1:$(PORT) in DEVELOPMENT MODE."
	@echo "  Try a call in another terminal:   $(BIN)/ivr call --url http://127.0.0.1:$(PORT) --token dev"
	@echo "  Try a text:                       $(BIN)/ivr text --url http://127.0.0.1:$(PORT) --token dev"
	@echo "  (or without the server: $(BIN)/ivr call)   Stop with Ctrl-C."
	@echo ""
	@echo "  Operators' console:               http://127.0.0.1:$(PORT)/console"
	@echo "  Create an operator first (in another terminal, then reload the page):"
	@echo "                                    IVR_OPERATORS_FILE=$(IVR_OPERATORS_FILE) $(BIN)/ivr operator add NAME"
	@echo ""
	PATH="$(abspath $(BIN)):$$PATH" IVR_DEV_MODE=1 PORT=$(PORT) WEB_CONCURRENCY=1 IVR_OPERATORS_FILE=$(IVR_OPERATORS_FILE) \
		bash -c "$$(sed -n 's/^web: //p' Procfile | sed 's/--bind 0\.0\.0\.0:/--bind 127.0.0.1:/')"

test: $(STAMP) ## run the checks and the tests (needs Redis on 127.0.0.1:6379)
	$(BIN)/ruff check ivr tests bench
	$(BIN)/ivr check
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check ivr tests bench

bench: $(STAMP) ## measure the line against the Twilio-docs reference and bare Flask (needs wrk and Redis); STRICT=1 fails on a missed target
	$(BIN)/python bench/run.py $(if $(STRICT),--strict)

check: $(STAMP)
	$(BIN)/ivr check --stats

call: $(STAMP)
	$(BIN)/ivr call

text: $(STAMP)
	$(BIN)/ivr text

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis *.egg-info
