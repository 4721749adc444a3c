# Handoff: `make run` serves a demo on SQLite; `make test` installs everything and runs the suite.
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VENDOR := static/vendor/htmx.min.js static/vendor/ws.js
export HANDOFF_TEST_PG_PORT ?= 54329
export HANDOFF_TEST_REDIS_PORT ?= 63799

.PHONY: run test lint typecheck services stop-services system-deps bench messages screenshots clean

run: $(STAMP) $(VENDOR) compile-messages
	$(BIN)/handoff migrate
	$(BIN)/handoff seed-demo --if-empty
	$(BIN)/handoff serve

$(STAMP): pyproject.toml
	@test -d $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

node_modules/.package-lock.json: package.json
	npm install --no-audit --no-fund --loglevel=error

# Front-end packages come from the npm registry at build time; static/vendor is git-ignored.
$(VENDOR): node_modules/.package-lock.json
	@mkdir -p static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx.min.js
	cp node_modules/htmx-ext-ws/dist/ws.js static/vendor/ws.js

# Compile each locales/<lang>/LC_MESSAGES/messages.po into the .mo read at run time (git-ignored).
# A broken catalog (bad syntax, placeholders that differ from the English) stops the build:
# pybabel itself only warns about bad syntax and silently skips a catalog marked fuzzy.
compile-messages: $(STAMP)
	@$(PY) -c 'import pathlib, sys; from babel.messages.pofile import read_po; \
	bad = [str(p) for p in sorted(pathlib.Path("locales").glob("*/LC_MESSAGES/messages.po")) \
	       if read_po(p.open("rb"), abort_invalid=True).fuzzy]; \
	sys.exit(f"catalogs marked fuzzy, so never compiled: {bad}" if bad else None)'
	$(BIN)/pybabel compile --statistics -d locales -D messages

# Extract every translatable string into locales/messages.pot and update each catalog; new
# strings arrive untranslated and tests/web/test_languages.py fails until they are translated.
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k N_ -o locales/messages.pot --project=Handoff --no-location --sort-output .
	$(BIN)/pybabel update -i locales/messages.pot -d locales -D messages --no-fuzzy-matching --ignore-obsolete

system-deps:
	@scripts/system-deps.sh

services: system-deps
	@scripts/services.sh start

stop-services:
	@scripts/services.sh stop

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy .

test: system-deps $(STAMP) $(VENDOR) compile-messages services lint typecheck
	$(BIN)/pytest -q -p no:cacheprovider
	HANDOFF_TEST_DATABASE=postgresql $(BIN)/pytest -q -p no:cacheprovider -m "not browser"

# Refresh the README's screenshots from the browser test.
screenshots: $(STAMP) $(VENDOR) compile-messages
	HANDOFF_SCREENSHOTS=1 $(BIN)/pytest -q -p no:cacheprovider tests/browser

bench: $(STAMP) $(VENDOR)
	$(PY) -m bench.run

clean:
	rm -rf $(VENV) node_modules static/vendor .services
