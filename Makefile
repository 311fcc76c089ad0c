# The README's two commands: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: setup demo test bench

setup: $(STAMP)

# torch first, from the CPU build; then the project, resolved through constraints.txt so
# that pip never backtracks (chainlit → literalai → traceloop-sdk otherwise takes minutes).
$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check torch==2.13.0
	$(PIP) install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $(STAMP)

demo: setup
	$(VENV)/bin/groundloop ingest docs
	@echo
	@echo "The user guide in docs/ is indexed. Ask it something:"
	@echo "  $(VENV)/bin/groundloop search \"how do I ingest a folder\""

test: setup
	$(PY) -m pytest

bench: setup
	$(PY) -m benchmarks.retrieval
