# The two commands of the README, each setting up what it needs:
#   make book   build the HTML book into _build/html (chapters executed)
#   make test   run the whole test suite
# Both create a virtual environment in .venv on first use and reuse it afterwards.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: book test bench lint clean

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
book: $(VENV)/.installed-book _build/.static/mathjax/tex-chtml.js
	@mkdir -p _build
	@if [ "$$(cat _build/.nnscratch-hash 2>/dev/null)" != "$(PKG_HASH)" ]; then \
		echo "nnscratch changed since the last build: clearing the execution cache"; \
		rm -rf _build/.jupyter_cache _build/.doctrees _build/models; \
	fi
	@if [ "$$(cat _build/.static-hash 2>/dev/null)" != "$(STATIC_HASH)" ]; then \
		rm -rf _build/.doctrees; \
	fi
	@if [ -d _build/.jupyter_cache ] && [ ! -f $(PAD_WEIGHTS) ]; then \
		echo "$(PAD_WEIGHTS) is missing: clearing the execution cache to write it again"; \
		rm -rf _build/.jupyter_cache _build/.doctrees; \
	fi
	$(BIN)/jupyter-book build . -W -n --keep-going
	@echo "$(PKG_HASH)" > _build/.nnscratch-hash
	@echo "$(STATIC_HASH)" > _build/.static-hash

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

bench: $(VENV)/.installed-book
	$(BIN)/python benchmarks/gemm_peak.py
	$(BIN)/python benchmarks/epoch.py
	$(BIN)/python benchmarks/jacobian_cost.py
	$(BIN)/python benchmarks/data_load.py
	$(BIN)/python benchmarks/pytorch_compare.py

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf _build
