# The two commands of the README, each setting up what it needs, in either order:
#   make book   build the HTML book into _build/html (chapters executed)
#   make test   run the whole test suite
# and the others:
#   make lab    open the chapters as notebooks in JupyterLab
#   make pdf    the whole book as one PDF, _build/pdf/nnscratch.pdf
#   make lint   ruff and mypy on the code, ruff on the chapters' code cells; the workflows
#               (GitHub's schema and actionlint)
#   make dist   the sdist and the wheel in dist/, checked
# Each creates a virtual environment in $(VENV) (.venv unless given, e.g. `make test
# VENV=.venv-test`) on first use, installs the package with the extra it needs and reuses it.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: book pdf test lint dist lab bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# One stamp per extra: re-installs only when pyproject.toml changes.
$(VENV)/.installed-%: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[$*]"
	touch $@

# The execution cache cannot see changes in nnscratch: when a hash of the package's source
# differs from the one recorded at the last build, the cache is cleared first.
PKG_HASH = $(shell cat pyproject.toml nnscratch/*.py nnscratch/*/*.py | sha256sum | cut -c1-16)

# The site serves its own MathJax (no CDN): the npm package pinned by package-lock.json,
# whose es5 folder is staged in _build/.static/mathjax and published as _static/mathjax.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund

_build/.static/mathjax/tex-chtml.js: node_modules/.package-lock.json
	rm -rf _build/.static/mathjax
	mkdir -p _build/.static
	cp -R node_modules/mathjax/es5 _build/.static/mathjax

# Sphinx copies the static files (CSS, logo, MathJax) only when it writes a page: when they
# alone changed, every page is rebuilt, from the execution cache.
STATIC_HASH = $(shell cat package-lock.json book/_static/* | sha256sum | cut -c1-16)

# The "Try it" chapter writes the weights its page loads; a cached chapter does not run, so
# when the file is missing the cache goes (Sphinx publishes _build/.static as _static).
PAD_WEIGHTS = _build/.static/pad/weights.js

# Sphinx does not re-read an unchanged chapter, so the saved doctrees go with the cache.
# `make book` and `make pdf` share the cache, the doctrees and these checks.
define clear-stale-cache
	@mkdir -p _build
	@if [ "$$(cat _build/.nnscratch-hash 2>/dev/null)" != "$(PKG_HASH)" ]; then \
		echo "nnscratch changed since the last build: clearing the execution cache"; \
		rm -rf _build/.jupyter_cache _build/.doctrees; \
	fi
	@if [ "$$(cat _build/.static-hash 2>/dev/null)" != "$(STATIC_HASH)" ]; then \
		rm -rf _build/.doctrees; \
	fi
	@if [ -d _build/.jupyter_cache ] && [ ! -f $(PAD_WEIGHTS) ]; then \
		echo "$(PAD_WEIGHTS) is missing: clearing the execution cache to write it again"; \
		rm -rf _build/.jupyter_cache _build/.doctrees; \
	fi
endef

# The models the chapters train (_build/models) are shared by the book, the PDF and the
# notebook tests, so that whichever runs first trains them and the others load them; they are
# deleted when the package changes, and the folder records the package they were made with.
define clear-stale-models
	@if [ "$$(cat _build/models/.nnscratch-hash 2>/dev/null)" != "$(PKG_HASH)" ]; then \
		rm -rf _build/models; \
		mkdir -p _build/models; \
		echo "$(PKG_HASH)" > _build/models/.nnscratch-hash; \
	fi
endef

define record-hashes
	@echo "$(PKG_HASH)" > _build/.nnscratch-hash
	@echo "$(STATIC_HASH)" > _build/.static-hash
endef

book: $(VENV)/.installed-book _build/.static/mathjax/tex-chtml.js
	$(clear-stale-cache)
	$(clear-stale-models)
	$(BIN)/jupyter-book build . -W -n --keep-going
	$(record-hashes)

# Every chapter on one HTML page (from the same execution cache), printed by the headless
# Chromium once MathJax has typeset it: see tools/print_pdf.py.
pdf: $(VENV)/.installed-pdf _build/.static/mathjax/tex-chtml.js
	$(clear-stale-cache)
	$(clear-stale-models)
	$(BIN)/jupyter-book build . -W -n --keep-going --builder singlehtml
	$(record-hashes)
	$(BIN)/python tools/print_pdf.py _build/singlehtml _build/pdf/nnscratch.pdf

test: $(VENV)/.installed-test
	$(clear-stale-models)
	$(BIN)/python -m pytest

# The chapters as notebooks: Jupytext opens the .md files as notebooks (binder/postBuild
# makes that the default, as on Binder) and jupyterlab-myst renders their MyST Markdown.
lab: $(VENV)/.installed-lab
	PATH="$(CURDIR)/$(BIN):$$PATH" binder/postBuild
	$(BIN)/jupyter lab

lint: $(VENV)/.installed-test node_modules/.package-lock.json
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python tools/lint_chapters.py
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	node tools/actionlint.mjs .github/workflows/*.yml

dist: $(VENV)/.installed-test
	rm -rf dist
	$(BIN)/python -m build --outdir dist .
	$(BIN)/twine check --strict dist/*
	$(BIN)/python tools/check_dist.py dist

bench: $(VENV)/.installed-book
	$(BIN)/python benchmarks/gemm_peak.py
	$(BIN)/python benchmarks/epoch.py
	$(BIN)/python benchmarks/jacobian_cost.py
	$(BIN)/python benchmarks/data_load.py
	$(BIN)/python benchmarks/pytorch_compare.py

clean:
	rm -rf _build dist
