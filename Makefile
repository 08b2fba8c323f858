# The book's commands. `make html` builds the site, `make test` runs every check;
# both create and fill the virtual environment .venv on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed-requirements
NOTEBOOK ?=

# Stored and re-checked outputs must not contain progress bars (see lib/reproducibility.py).
export TRANSFORMER_BOOK_PROGRESS := 0

# The tests start many Python processes (pytest workers, Jupyter kernels and servers, subprocesses),
# each importing torch and more. Python caches what it compiles in __pycache__, so only the first
# compiles a module from source; a machine that sets PYTHONDONTWRITEBYTECODE (CI's does) would make
# every process compile everything it imports again (a chapter's first cell took 20 s, not 5).
unexport PYTHONDONTWRITEBYTECODE

NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

.PHONY: venv html test execute nbval-variants benchmark lint clean lab notebook install-check

# --no-compile: pip would byte-compile every file of every package (more than half of the install's
# time: 78 s against 28 s with a warm cache here); Python compiles what is imported, on first use,
# and caches it in __pycache__ (see PYTHONDONTWRITEBYTECODE above).
$(INSTALLED): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -r requirements.txt
	touch $@

venv: $(INSTALLED)

# Read and run the chapters yourself: JupyterLab (`make notebook`: Notebook 7) on this venv's
# Python, where `lib` is installed. JUPYTER_PATH puts the venv's kernel spec before any of yours
# and adds the book's citations extension (tools/jupyter: {cite} resolved from references.bib),
# and progress bars come back on (TRANSFORMER_BOOK_PROGRESS=0 is for stored outputs only).
JUPYTER := env -u TRANSFORMER_BOOK_PROGRESS JUPYTER_PATH=$(CURDIR)/$(VENV)/share/jupyter:$(CURDIR)/tools/jupyter \
	$(BIN)/jupyter
AS_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: $(INSTALLED)
	$(JUPYTER) lab $(AS_ROOT) chapters

notebook: $(INSTALLED)
	$(JUPYTER) notebook $(AS_ROOT) chapters

# The site, from the stored outputs, with every Sphinx warning an error.
html: $(INSTALLED)
	rm -rf _build
	$(BIN)/jupyter-book build . --warningiserror --nitpick --keep-going

# Everything: lint, lib tests, notebook contract, nbval, then the site in headless Chromium.
# nbval runs with one thread and ATen's AVX2 kernels, the ones that made the stored outputs, on
# any x86 CPU that has them; how far each printed number can move under other settings (ATen's
# plain kernels, MKL's code paths, 2 and 4 threads) is measured by `make nbval-variants`.
# Three pytest-xdist workers share the tests a file at a time (`loadfile`): a notebook's cells run
# in order in one kernel, so they must stay together on one worker. Three, on CI's 2 cores, because
# the browser tests spend much of their time waiting for Chromium; the chapters are listed first
# and the files kept in that order (`--no-loadscope-reorder`), so the long ones start first.
test: html
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	ATEN_CPU_CAPABILITY=avx2 OMP_NUM_THREADS=1 $(BIN)/python -m pytest chapters tests $(NBVAL) \
		-n 3 --dist loadfile --no-loadscope-reorder --durations=20

# `pip install` of the repository alone (Colab's way), into a new venv without the requirements
# file, is enough for every chapter: a minute or more, and it needs the package index (CI runs it).
install-check: $(INSTALLED)
	TRANSFORMER_BOOK_FRESH_INSTALL=1 $(BIN)/python -m pytest tests/test_install.py -k pip_install

# Re-execute every notebook (or NOTEBOOK=chapters/x.ipynb) in place in a fresh kernel.
execute: $(INSTALLED)
	$(BIN)/python tools/execute_notebooks.py $(NOTEBOOK)

# Every chapter (or NOTEBOOK=chapters/x.ipynb) under seven CPU settings (MKL's code path, ATen's
# kernels, 1, 2 and 4 threads): how far each printed number moves against its distance to the
# rounding edge (tools/output_margin.py). Run before committing notebooks; about half an hour.
nbval-variants: $(INSTALLED)
	$(BIN)/python tools/output_margin.py $(NOTEBOOK)

benchmark: $(INSTALLED)
	$(BIN)/python benchmarks/train_step.py
	$(BIN)/python benchmarks/explorer_redraw.py
	$(BIN)/python benchmarks/browser_generate.py
	$(BIN)/python benchmarks/kv_cache.py
	$(BIN)/python benchmarks/hf_gpt2.py

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf _build artifacts
