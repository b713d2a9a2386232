# The two commands: `make demo` and `make test`. Both create .venv when missing and install the
# project into it; the install is skipped while pyproject.toml is unchanged (stamp on its hash).
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell (sha256sum pyproject.toml 2>/dev/null || shasum -a 256 pyproject.toml) | cut -c1-16)
PYTEST_ARGS ?=

.PHONY: demo test test-all lint install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,serve,captioner]'
	$(VENV)/bin/facetrust models fetch blazeface  # detector file from the mediapipe wheel, SHA-256 checked
	@rm -f $(VENV)/.installed-*
	@touch $@
	@echo "facetrust installed into $(VENV)"

demo: $(STAMP)
	$(VENV)/bin/facetrust demo

test: $(STAMP)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-all: $(STAMP)
	HYPOTHESIS_PROFILE=full $(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
