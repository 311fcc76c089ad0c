# The README's two commands: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: setup browser postgres redis demo test bench

setup: $(STAMP)

# torch first, from the CPU build; then the project, resolved through constraints.txt so
# that pip never backtracks (chainlit → literalai → traceloop-sdk otherwise takes minutes).
$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check torch==2.13.0
	$(PIP) install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $(STAMP)

# The browser tests drive Debian's chromium (never a browser downloaded by playwright).
browser:
	@test -x /usr/bin/chromium || { echo "Installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The storage tests also run on PostgreSQL: Debian's server binaries, started by the tests themselves.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { echo "Installing Debian's postgresql for the storage tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

# The shared rate limits are tested against Debian's redis-server, started by the tests themselves.
redis:
	@test -x /usr/bin/redis-server || { echo "Installing Debian's redis-server for the rate-limit tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }

demo: setup
	$(VENV)/bin/groundloop ingest docs
	@printf demo | $(VENV)/bin/groundloop users add demo --role admin --password-file - --if-missing
	@echo
	@echo "The user guide in docs/ is indexed. Open http://127.0.0.1:8000 and ask it something."
	@echo "Sign in as demo / demo. Ctrl-C stops the server."
	$(VENV)/bin/groundloop serve

test: setup browser postgres redis
	$(PY) -m pytest

bench: setup
	$(PY) -m benchmarks.retrieval
	$(PY) -m benchmarks.chat
	$(PY) -m benchmarks.feedback
	$(PY) -m benchmarks.learning
	$(PY) -m benchmarks.permissions
	$(PY) -m benchmarks.load
