# The study's two commands: `make reproduce` and `make test`. Both create .venv first if it is missing.
PYTHON   ?= python3
VENV     := .venv
PY       := $(VENV)/bin/python
PROFILE  ?= default
# WIDER FACE annotations (no images) for notebook 01; ../shared/widerface when it exists, else data/widerface.
WIDER_ANNOTATIONS ?= $(firstword $(wildcard ../shared/widerface) data/widerface)
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))

.PHONY: setup test reproduce bench notebooks lint clean-results

setup: $(VENV)/.installed

# Re-runs only when pyproject.toml changes: `make setup` is idempotent.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

test: setup
	$(PY) -m pytest -q

lint: setup
	$(PY) -m ruff check gslib tests

bench: setup
	mkdir -p results/bench
	$(PY) -m gslib.bench matching --json > results/bench/matching.json
	$(PY) -m gslib.bench matching

# Executes every notebook in order with papermill into results/notebooks/, profile $(PROFILE).
notebooks: setup
	@mkdir -p results/notebooks
	@if [ -z "$(NOTEBOOKS)" ]; then echo "reproduce: there are no notebooks yet; nothing else was run."; fi
	@for nb in $(NOTEBOOKS); do \
	  echo "reproduce: executing $$nb (profile $(PROFILE))"; \
	  $(PY) -m papermill --cwd notebooks $$nb results/notebooks/$$(basename $$nb) \
	    -p profile $(PROFILE) -p wider_annotations $(abspath $(WIDER_ANNOTATIONS)) || exit 1; \
	done

reproduce: bench notebooks
	@echo "reproduce: ran the matching benchmark (results/bench/) and $(words $(NOTEBOOKS)) notebook(s): $(NOTEBOOKS)"

clean-results:
	rm -rf results/bench results/notebooks
