# mtlkit — every target sets up its own environment (.venv) first.
#   make run    the main job: notebooks + reproductions at scale=cpu, figures, REPORT.md
#   make test   the test suite (what .ci/run runs)
#   make lab    JupyterLab on the kit's environment, opened on notebooks/
#   make dryrun every reproduction's paper path, 2 iterations per stage on fabricated data (before booking a GPU)
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.mtlkit-installed
SCALE  ?= cpu
DEVICE ?= cpu
DATA_ROOT ?=
JOBS   ?= 2

.PHONY: run test lab reproduce env sync clean-executed dryrun

env: $(STAMP)

# (re)install when the venv is missing or pyproject.toml changed since the last install
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[notebooks,test]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $(STAMP)

run: $(STAMP)
	TQDM_MININTERVAL=5 $(BIN)/python -m mtlkit run --scale $(SCALE) --device $(DEVICE) --jobs $(JOBS)

reproduce: $(STAMP)
	$(BIN)/python -m mtlkit run --scale $(SCALE) --device $(DEVICE) --only reproductions $(if $(DATA_ROOT),--data-root $(DATA_ROOT))

test: $(STAMP)
	TQDM_DISABLE=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -q

dryrun: $(STAMP)
	TQDM_DISABLE=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m mtlkit dryrun $(or $(TABLES),all) $(if $(DATA_ROOT),--data-root $(DATA_ROOT))

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

# regenerate every notebook .ipynb from its reviewed jupytext .py (outputs stay empty)
sync: $(STAMP)
	$(BIN)/jupytext --set-kernel python3 --to ipynb notebooks/[0-9]*.py $(wildcard reproductions/[0-9a-z]*.py)

clean-executed:
	rm -rf executed/
