# Maillage — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# Without DATABASE_URL, tests and the platform use the embedded PostgreSQL in var/.
WITH_DB = DATABASE_URL="$${DATABASE_URL:-$$($(PY) -m platform_core.embedded_db start)}"

.PHONY: install run test lint format lock bench db-stop clean

install: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements/base.txt requirements/dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes \
		-r requirements/base.txt -r requirements/dev.txt
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@mkdir -p node_modules && touch $@

run: install
	$(PY) -m platform_core.runner

test: install
	$(WITH_DB) $(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(WITH_DB) $(PY) manage.py makemigrations --check --dry-run

format: install
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

# Recompile the pinned requirements (names, versions, hashes only).
lock:
	$(PY) -m pip install --quiet pip-tools
	cd requirements && ../$(PY) -m piptools compile --quiet --generate-hashes --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links -o base.txt base.in
	cd requirements && ../$(PY) -m piptools compile --quiet --generate-hashes --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links -o dev.txt dev.in

bench: install
	$(WITH_DB) $(PY) -m benchmarks $(BENCH_ARGS)

db-stop:
	$(PY) -m platform_core.embedded_db stop

clean: db-stop
	rm -rf $(VENV) node_modules var
