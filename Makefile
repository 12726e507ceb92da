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
# An example runs only when its inputs changed (docs/_ext/examplecache.py); FRESH=1 re-runs
# every one. WORKERS=N runs N at a time (default: one per core on the CPU, one on a GPU).
export MLCHEATSHEET_FRESH := $(FRESH)
export MLCHEATSHEET_WORKERS := $(WORKERS)
# MathJax 3 from npm, copied into the site's static files so math renders offline.
MATHJAX_VERSION := 3.2.2
MATHJAX := docs/_static/mathjax/tex-mml-chtml.js
# onnxruntime-web from npm, for the in-browser model demos (docs/_ext/demos.py): only its plain
# WebAssembly build, copied into the site's static files so the demos run offline.
ORT_VERSION := 1.30.0
ORT := docs/_static/ort/ort.wasm.min.js

.PHONY: html html-quick html-noplot plan test bench bench-build clean help chromium shards

help:
	@echo "make html         full site, every gallery script trained with its full budget"
	@echo "make test         pytest, including a quick-mode docs build"
	@echo "make html-quick   site with tiny training budgets (minutes)"
	@echo "make html-noplot  site without executing the gallery"
	@echo "make plan         what 'make html' would run, on which device and data, and for how long (DEVICE=cuda, MODE=quick)"
	@echo "make bench        one table: training ratios vs a reference loop, and the last 'make html' (~5 min; BENCH_ARGS=--help)"
	@echo "make bench-build  the build as ratios (~20 min): side by side vs one at a time, cached rebuilds"
	@echo "make html FRESH=1 re-run every example, ignoring the cache of earlier runs"
	@echo "make shards N=3   split the gallery into N groups of equal recorded time (the CI matrix)"
	@echo "make clean        remove builds and generated pages (keeps .venv)"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[docs,test]'
	@touch $(STAMP)

# The MathJax files the pages load (npm only; nothing else is fetched). Re-run by deleting
# docs/_static/mathjax.
$(MATHJAX):
	@command -v npm >/dev/null || { echo "npm is needed to install MathJax (Debian: apt-get install -y npm)" >&2; exit 1; }
	rm -rf .cache/mathjax docs/_static/mathjax.part
	npm install --silent --no-save --no-audit --no-fund --no-package-lock --prefix .cache/mathjax mathjax@$(MATHJAX_VERSION)
	mkdir -p docs/_static/mathjax.part/input docs/_static/mathjax.part/output
	cd .cache/mathjax/node_modules/mathjax/es5 && cp -r tex-mml-chtml.js a11y sre ui $(CURDIR)/docs/_static/mathjax.part/ \
		&& cp -r input/tex input/mml $(CURDIR)/docs/_static/mathjax.part/input/ \
		&& cp -r output/chtml $(CURDIR)/docs/_static/mathjax.part/output/
	mv docs/_static/mathjax.part docs/_static/mathjax

# The onnxruntime-web files the demos load (npm only). ort.wasm.min.js is the WebAssembly-only
# build (no WebGPU, WebGL or JSEP); it imports ort-wasm-simd-threaded.mjs, which loads
# ort-wasm-simd-threaded.wasm: 50,196 + 24,381 + 14,239,897 bytes, 14.3 MB in all for 1.30.0
# (fetched only by a page with a demo). Re-run by deleting docs/_static/ort.
$(ORT):
	@command -v npm >/dev/null || { echo "npm is needed to install onnxruntime-web (Debian: apt-get install -y npm)" >&2; exit 1; }
	rm -rf .cache/ort docs/_static/ort.part
	npm install --silent --no-save --no-audit --no-fund --no-package-lock --prefix .cache/ort onnxruntime-web@$(ORT_VERSION)
	mkdir -p docs/_static/ort.part
	cd .cache/ort/node_modules/onnxruntime-web/dist && cp ort.wasm.min.js ort-wasm-simd-threaded.mjs ort-wasm-simd-threaded.wasm \
		$(CURDIR)/docs/_static/ort.part/
	mv docs/_static/ort.part docs/_static/ort

# Debian's Chromium for the browser test (tests/test_browser.py). Installed when missing and
# running as root (CI); otherwise that test is skipped with the reason.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation fonts-dejavu-core >/dev/null; \
		else echo "chromium is not installed: the browser test will be skipped (apt-get install chromium)"; fi; }

# RECORD leaves the build's wall time and peak memory in $(BUILDDIR)/build-stats.json for `make bench`.
RECORD := $(BIN)/python -m benchmarks.record $(BUILDDIR)/build-stats.json --

html: $(STAMP) $(MATHJAX) $(ORT)
	MLCHEATSHEET_MODE=full $(RECORD) $(BIN)/python -m sphinx -b html $(SPHINXOPTS) docs $(BUILDDIR)/html

html-quick: $(STAMP) $(MATHJAX) $(ORT)
	MLCHEATSHEET_MODE=quick $(RECORD) $(BIN)/python -m sphinx -b html $(SPHINXOPTS) docs $(BUILDDIR)/html

html-noplot: $(STAMP) $(MATHJAX) $(ORT)
	MLCHEATSHEET_NOPLOT=1 $(BIN)/python -m sphinx -b html $(SPHINXOPTS) docs $(BUILDDIR)/html

# A dry estimate of `make html`: nothing is trained. DEVICE=cuda plans a GPU build on any machine.
plan: $(STAMP)
	@$(BIN)/python docs/_ext/buildplan.py $(if $(DEVICE),--device $(DEVICE)) $(if $(MODE),--mode $(MODE))

test: $(STAMP) $(MATHJAX) $(ORT) chromium
	$(BIN)/python -m pytest

# BENCH_ARGS passes options, e.g. BENCH_ARGS="--only throughput --threads 1" or "--skip-training".
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

# Four builds of a copy of the sources, back to back: the build's ratios (the working tree is left alone).
bench-build: $(STAMP) $(MATHJAX) $(ORT)
	$(BIN)/python -m benchmarks --skip-training --no-build-report --build-ratios $(BENCH_ARGS)

# The EXAMPLES patterns of N shards of about equal recorded time (a JSON list), for CI.
N ?= 2
shards: $(STAMP)
	@$(BIN)/python docs/_ext/examplecache.py shards $(N)

clean:
	rm -rf $(BUILDDIR) docs/auto_examples docs/sg_execution_times.rst .pytest_cache
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
