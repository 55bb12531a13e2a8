# The study's two commands: `make reproduce` and `make test`. Both create .venv first if it is missing.
PYTHON   ?= python3
VENV     := .venv
PY       := $(VENV)/bin/python
PROFILE  ?= default
# WIDER FACE annotations (no images) for notebook 01: data/widerface if present, else ../shared/widerface.
WIDER_ANNOTATIONS ?= $(firstword $(wildcard data/widerface ../shared/widerface) data/widerface)
export GSLIB_WIDER_ANNOTATIONS := $(abspath $(WIDER_ANNOTATIONS))
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))

.PHONY: setup test reproduce data bench notebooks claims store-smoke lint clean-results

setup: $(VENV)/.installed

# Re-runs only when pyproject.toml changes: `make setup` is idempotent.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

# Unit tests, then every notebook under nbval in the smoke profile stored in it (outputs of cells marked
# NBVAL_CHECK_OUTPUT are compared, the others must run without error).
test: setup
	$(PY) -m pytest -q --nbval-lax tests notebooks

lint: setup
	$(PY) -m ruff check gslib tests

bench: setup
	mkdir -p results/bench
	$(PY) -m gslib.bench matching --json > results/bench/matching.json
	$(PY) -m gslib.bench evaluate --json > results/bench/evaluate.json
	$(PY) -m gslib.bench train --json > results/bench/train.json
	@cat results/bench/matching.json results/bench/evaluate.json results/bench/train.json

# The embedded benchmark of the profile (data/synthwider for default; notebooks also make it when missing).
data: setup
	$(PY) -m gslib.data.synth --ensure --profile $(if $(filter smoke,$(PROFILE)),smoke,default) \
	  --out data/synthwider$(if $(filter smoke,$(PROFILE)),-smoke,)

# Executes every notebook in order with papermill into results/notebooks/, profile $(PROFILE).
notebooks: setup
	@mkdir -p results/notebooks
	@for nb in $(NOTEBOOKS); do \
	  echo "reproduce: executing $$nb (profile $(PROFILE))"; \
	  $(PY) -m papermill --cwd notebooks --log-level ERROR $$nb results/notebooks/$$(basename $$nb) \
	    -p profile $(PROFILE) || exit 1; \
	done

# Re-executes the notebooks in place in the smoke profile: the stored outputs nbval compares against.
store-smoke: setup
	@for nb in $(NOTEBOOKS); do $(PY) -m papermill --cwd notebooks --log-level ERROR $$nb $$nb -p profile smoke || exit 1; done

claims: setup
	$(PY) -m gslib.claims --profile $(PROFILE)

reproduce: data bench notebooks claims
	@echo "reproduce: generated the embedded benchmark (data/), ran the benchmarks (results/bench/)"
	@echo "reproduce: executed $(words $(NOTEBOOKS)) notebook(s) into results/notebooks/: $(NOTEBOOKS)"
	@echo "reproduce: tables in results/tables/, figures in results/figures/, verdicts in results/claims.md"

clean-results:
	rm -rf results/bench results/notebooks
