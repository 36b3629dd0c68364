# The two commands a newcomer needs: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum requirements.txt | cut -c1-12)
# The benchmark's comparison tools (s5cmd, AWS CLI v1) live in their own venv: see bench/.
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed-$(shell sha1sum bench/requirements.txt | cut -c1-12)
# The GA4GH DRS compliance suite pins requests, Flask and pytest below ours: its own venv too.
DRS_VENV := .venv-drs
DRS_STAMP := $(DRS_VENV)/.installed-$(shell sha1sum tests/drs/requirements.txt | cut -c1-12)

.PHONY: run test test-fast lint format worker setup tools drs-suite drs-compliance clean bench \
	bench-push bench-scale bench-load bench-links

run: setup
	$(BIN)/python scripts/run_embedded.py

# The suite mostly waits (servers, subprocesses, S3 on loopback), so it runs in TEST_WORKERS
# processes (pytest-xdist; each has its own test database and S3 server): 2 halve its time on
# two cores. TEST_WORKERS=0 runs it in this one process.
TEST_WORKERS ?= 2

test: setup tools
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# The suite without the tests marked e2e (processes, servers, browsers, bash, curl, and those that
# take seconds): well under a minute, with nothing but Python. `make test` runs them all.
test-fast: setup
	$(BIN)/python -m pytest -m "not e2e" $(PYTEST_ARGS)

# The download-script tests run the generated script with bash and curl and check it with
# shellcheck; the admin console's browser tests (tests/test_browser.py) drive Debian's chromium,
# with fonts-liberation so that screenshots show text. On Debian as root the missing ones are
# installed; elsewhere the message says what to install. The DRS compliance suite
# (tests/test_drs.py) is installed from PyPI into .venv-drs first.
tools: drs-suite
	@missing=""; \
	for tool in curl shellcheck; do \
	  command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; \
	done; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	if command -v dpkg-query >/dev/null 2>&1 && \
	   ! dpkg-query -W -f '$${Status}' fonts-liberation 2>/dev/null | grep -q 'ok installed'; then \
	  missing="$$missing fonts-liberation"; \
	fi; \
	[ -z "$$missing" ] && exit 0; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing$$missing..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else \
	  echo "make test needs$$missing (chromium as /usr/bin/chromium, Debian's package);"; \
	  echo "install as root: apt-get install$$missing"; exit 1; \
	fi

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

worker: setup
	$(BIN)/python manage.py qcluster

setup: $(STAMP)

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $@

# The benchmarks print Markdown tables (docs/benchmarks.md is written by hand from them).
# The download script and presigning (a few minutes); BENCH_ARGS=--quick for a small run,
# BENCH_ARGS=--help for every option.
bench: setup $(BENCH_STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

# The push through the real job path (a worker cluster, SQLite) against s5cmd and aws.
bench-push: setup $(BENCH_STAMP)
	$(BIN)/python -m bench.push $(BENCH_ARGS)

# What a share costs as it grows (issue 12): dry run, push, pull and s5cmd at 10,000, 100,000
# and 300,000 objects on PostgreSQL, with each cluster's memory (about an hour);
# BENCH_ARGS=--quick for 2,000 and 10,000, BENCH_ARGS=--million to add 1,000,000.
bench-scale: setup $(BENCH_STAMP)
	$(BIN)/python -m bench.scale $(BENCH_ARGS)

# The API and the admin under load (locust) on a job of a million objects, on PostgreSQL:
# BENCH_ARGS="--objects 100000 --duration 10s" for a small run, --help for every option.
bench-load: setup $(BENCH_STAMP)
	$(BIN)/python -m bench.load $(BENCH_ARGS)

# A pull's downloads through its share link (gunicorn, the service as the download endpoint)
# against the same share's presigned links, s5cmd and aws (a few minutes; SQLite unless
# BENCH_ARGS="--database-url postgres://postgres@127.0.0.1:5432/postgres").
bench-links: setup $(BENCH_STAMP)
	$(BIN)/python -m bench.links $(BENCH_ARGS)

$(BENCH_STAMP): bench/requirements.txt
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -r bench/requirements.txt
	rm -f $(BENCH_VENV)/.installed-*
	touch $@

# GA4GH DRS: the compliance suite's venv (once; again when tests/drs/requirements.txt changes),
# and its run against the service (tests/test_drs.py; docs/drs.md), printing its summary.
drs-suite: $(DRS_STAMP)

drs-compliance: setup drs-suite
	$(BIN)/python -m pytest -s -k compliance tests/test_drs.py $(PYTEST_ARGS)

$(DRS_STAMP): tests/drs/requirements.txt
	test -x $(DRS_VENV)/bin/python || $(PYTHON) -m venv $(DRS_VENV)
	$(DRS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(DRS_VENV)/bin/python -m pip install --quiet -r tests/drs/requirements.txt
	rm -f $(DRS_VENV)/.installed-*
	touch $@

clean:
	rm -rf $(VENV) $(DRS_VENV) data .pytest_cache
