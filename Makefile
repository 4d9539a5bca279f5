# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
FLASK := $(BIN)/flask --app pilots
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export PILOTS_MODE ?= development

.PHONY: run test install lint format bench chromium translations clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## make run: install, migrate, load demo data into an empty database, start the app and,
## beside it, the scheduler (its own process; stopped when the web app stops).
run: install
	$(FLASK) migrate
	$(FLASK) demo --if-empty
	@echo
	@echo "Pilots is running at http://127.0.0.1:5000/ with its scheduler (Ctrl-C stops both)"
	$(FLASK) scheduler & pid=$$!; trap 'kill $$pid 2>/dev/null' EXIT INT TERM; \
		$(FLASK) run --host 127.0.0.1 --port 5000

## make test: install what the tests need (Debian chromium too), lint, run every test.
test: install chromium
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "Installing Debian chromium for the browser tests"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Re-extract messages after changing user-facing text, then translate pilots/translations/nb.
translations: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k DomainError -k translatable -k add:4 -o pilots/translations/messages.pot .
	$(BIN)/pybabel update -i pilots/translations/messages.pot -d pilots/translations --no-fuzzy-matching -w 100
	$(BIN)/pybabel compile -d pilots/translations

bench: install
	@for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
