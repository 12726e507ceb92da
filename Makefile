# mlcheatsheet: two commands do everything on a fresh clone — `make html`, then `make test`.
# Every target bootstraps .venv first (created once, re-installed when pyproject.toml changes).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SPHINXOPTS ?= -W --keep-going -n -j 1
BUILDDIR ?= docs/_build
# EXAMPLES=plot_cnn executes only the gallery scripts matching that regular expression.
export MLCHEATSHEET_EXAMPLES := $(EXAMPLES)

.PHONY: html html-quick html-noplot test bench clean help

help:
	@echo "make html         full site, every gallery script trained with its full budget"
	@echo "make test         pytest, including a quick-mode docs build"
	@echo "make html-quick   site with tiny training budgets (minutes)"
	@echo "make html-noplot  site without executing the gallery"
	@echo "make bench        speed and quality benchmarks"
	@echo "make clean        remove builds and generated pages (keeps .venv)"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[docs,test]'
	@touch $(STAMP)

html: $(STAMP)
	MLCHEATSHEET_MODE=full $(BIN)/python -m sphinx -b html $(SPHINXOPTS) docs $(BUILDDIR)/html

html-quick: $(STAMP)
	MLCHEATSHEET_MODE=quick $(BIN)/python -m sphinx -b html $(SPHINXOPTS) docs $(BUILDDIR)/html

html-noplot: $(STAMP)
	MLCHEATSHEET_NOPLOT=1 $(BIN)/python -m sphinx -b html $(SPHINXOPTS) docs $(BUILDDIR)/html

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(BUILDDIR) docs/auto_examples docs/sg_execution_times.rst .pytest_cache
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
