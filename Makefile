# The two commands of the README:
#   make app    set everything up and open the dashboard on a shipped example run
#   make test   set everything up (Chromium included) and run the whole test suite
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PORT   ?= 8501
TEST_WORKERS ?= 2

.PHONY: app test setup chromium lint bench figures-bench clean mutants

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-ray.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .  # the den and den-dashboard commands
	touch $@

chromium:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null; }

app: setup
	$(PY) -m dashboard.launch --port $(PORT)

test: setup chromium
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

# Every wrong engine variant in tests/mutation/variants.py must make its tests fail.
mutants: setup
	$(PY) tests/mutation/run.py

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

bench: setup
	$(PY) -m den_engine bench

figures-bench: setup
	$(PY) -m dashboard.bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artifacts
