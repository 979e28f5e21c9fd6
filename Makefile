# mtlkit — every target sets up its own environment (.venv) first.
#   make run      the main job: notebooks + reproductions at scale=cpu; every output under executed/cpu/ (ignored)
#   make publish  copy that run's figures, results CSVs and REPORT.md into the committed figures/, reproductions/
#   make test     the test suite (what .ci/run runs)
#   make lab      JupyterLab at the repository root on the course, sharing make run's cache (LAB_ARGS: extra flags)
#   make book     the static HTML course from make run's executed notebooks, READMEs, docs/ (site/, no re-execution)
#   make dryrun   every reproduction's paper path, 2 iterations per stage on fabricated data (before booking a GPU)
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.mtlkit-installed
SCALE  ?= cpu
DEVICE ?= cpu
DATA_ROOT ?=
JOBS   ?= 2
# make dryrun's tables at a time: 1 until every table's memory peak is measured (two paper-scale tables together
# filled this 23 GiB machine: Tables 2+4 reached 14.6 GiB next to Table 3's 10 GiB)
DRYRUN_JOBS ?= 1
# make run's seeds for the notebooks that declare `seeds`: a count (5: seeds 0-4; 1: a quick run) or a list 0,1,2
SEEDS  ?= 5
LAB_ARGS ?=
# make run's output folders (mtlkit.runner.output_env); make lab gives its kernels the same ones
OUT    := $(CURDIR)/executed/$(SCALE)
OUT_ENV := MTLKIT_CACHE=$(OUT)/cache MTLKIT_FIGURES=$(OUT)/figures MTLKIT_RESULTS=$(OUT)/results
# JupyterLab refuses to start as root without --allow-root (Docker, Colab and CI machines run as root)
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: run publish test lab book reproduce env sync clean-executed dryrun

env: $(STAMP)

# (re)install when the venv is missing or pyproject.toml changed since the last install
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[notebooks,book,test,search,export,distributed]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $(STAMP)

run: $(STAMP)
	TQDM_MININTERVAL=5 $(BIN)/python -m mtlkit run --scale $(SCALE) --device $(DEVICE) --jobs $(JOBS) --seeds $(SEEDS)

publish: $(STAMP)
	$(BIN)/python -m mtlkit publish --scale cpu

reproduce: $(STAMP)
	$(BIN)/python -m mtlkit run --scale $(SCALE) --device $(DEVICE) --only reproductions $(if $(DATA_ROOT),--data-root $(DATA_ROOT))

test: $(STAMP)
	TQDM_DISABLE=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -q

dryrun: $(STAMP)
	TQDM_DISABLE=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m mtlkit dryrun $(or $(TABLES),all) --jobs $(DRYRUN_JOBS) $(if $(DATA_ROOT),--data-root $(DATA_ROOT))

lab: $(STAMP)
	$(OUT_ENV) $(BIN)/jupyter lab $(ROOT_FLAG) --ServerApp.root_dir=$(CURDIR) \
	  --ServerApp.default_url=/lab/tree/notebooks/00_quickstart.ipynb $(LAB_ARGS)

book: $(STAMP)
	$(BIN)/python -m mtlkit book --scale $(SCALE)

# regenerate every notebook .ipynb from its reviewed jupytext .py (outputs stay empty)
sync: $(STAMP)
	$(BIN)/jupytext --set-kernel python3 --to ipynb notebooks/[0-9]*.py $(wildcard reproductions/[0-9a-z]*.py)

clean-executed:
	rm -rf executed/
