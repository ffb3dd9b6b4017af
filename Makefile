# Compact planner: two commands on a fresh machine with Python 3.11+ and make.
#   make demo   set up, then run the main job on the embedded demo city (writes out/demo/)
#   make test   set up with test extras, then lint (make lint) and run the tests
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: demo test lint app bench setup clean demo-data


$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,bench,dask]"
	touch $(STAMP) $@

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/compact demo --out out/demo

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m mypy

test: lint
	$(PY) -m pytest

app: $(STAMP)
	$(VENV)/bin/streamlit run app/streamlit_app.py --browser.gatherUsageStats false

bench: $(TEST_STAMP)
	$(PY) -m bench

demo-data: $(STAMP)
	$(PY) -m facilities.demo --size demo --out data/demo

clean:
	rm -rf $(VENV) out .pytest_cache
