# Two commands, on a fresh machine: `make run` (set up + the whole DVC pipeline) and
# `make test` (set up + the test suite). Both create .venv if missing and reuse it after.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Label Studio pins an older numpy: the server and its SDK live in their own venv
# (tests/test_annotate.py starts the server; tests/test_schema.py checks the config with the SDK).
LS_VENV ?= .venv-labelstudio
LS_SERVER ?= label-studio>=1.23,<1.24
LS_SDK  ?= label-studio-sdk>=2.0,<3

export PIP_DISABLE_PIP_VERSION_CHECK := 1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1

.PHONY: run exp plots test lint bench ui docs codebook clean setup setup-dev labelstudio-venv

run: $(VENV)/.installed
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc repro
	@cat reports/leaderboard.md
	@echo
	@echo "Next: 'source $(VENV)/bin/activate' puts grooming-risk, dvc and mlflow on PATH for the README's commands;"
	@echo "or use 'make exp ARGS=\"-S tfidf.C=2\"', 'make plots' and 'make ui', which need nothing more."

# DVC with the project's venv on PATH, for the dvc command itself (the stages call
# tools/grooming-risk, which finds the CLI in .venv when PATH has none):
#   make exp ARGS="-S tfidf.C=2"    dvc exp run -S tfidf.C=2
#   make plots                      dvc plots show (ARGS="diff HEAD": dvc plots diff HEAD)
exp: $(VENV)/.installed
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc exp run $(ARGS)

plots: $(VENV)/.installed
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc plots $(or $(ARGS),show)

# The MLflow UI on the local store (loopback only).
ui: $(VENV)/.installed
	$(BIN)/mlflow ui --backend-store-uri "sqlite:///$(abspath mlflow.db)" \
		--default-artifact-root "file://$(abspath mlartifacts)" --host 127.0.0.1 --port 5000

# One pytest worker a core (at most 4), a test file at a time: the real DVC runs (one file,
# scheduled first) take one core while the rest of the suite runs on the other. One BLAS/torch
# thread a worker, so that the workers do not fight over the cores. PYTEST_WORKERS=0: one process.
PYTEST_WORKERS ?= auto
test: $(VENV)/.installed-dev $(LS_VENV)/.installed
	LABEL_STUDIO_PYTHON="$(abspath $(LS_VENV))/bin/python" PATH="$(abspath $(BIN)):$$PATH" OMP_NUM_THREADS=1 \
		$(BIN)/python -m pytest --numprocesses $(PYTEST_WORKERS) --maxprocesses 4 --dist loadfile

# Speed and memory figures (never asserted by tests): reports/bench/*.json
bench: $(VENV)/.installed
	$(BIN)/python -m perf.run

# The documentation site (docs/, mkdocs.yml) into site/; --strict: a broken link or a page missing
# from the nav fails (tests/test_docs.py builds it the same way).
docs: $(VENV)/.installed-dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site
	@echo "open site/index.html"

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check pipeline tests perf notebooks tools
	$(BIN)/ruff format --check pipeline tests perf notebooks tools

# Refresh the committed annotator codebook after editing configs/schema.yaml.
codebook: $(VENV)/.installed
	$(BIN)/grooming-risk schema export --out data/schema
	cp data/schema/codebook.md docs/codebook.md

setup: $(VENV)/.installed
setup-dev: $(VENV)/.installed-dev
labelstudio-venv: $(LS_VENV)/.installed

# torch first and pinned: that version is a CPU build on local disk; an open range would
# pull a multi-GB CUDA build.
$(VENV)/.torch:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	touch $@

$(VENV)/.installed: $(VENV)/.torch pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

# Depends on the Makefile so that a changed pin reaches an existing venv.
$(LS_VENV)/.installed: Makefile
	test -x $(LS_VENV)/bin/python || $(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/python -m pip install --quiet "$(LS_SERVER)" "$(LS_SDK)"
	touch $@

clean:
	rm -rf $(VENV) $(LS_VENV) .pytest_cache .ruff_cache
