# tsunagi — the two commands of the Quick start are `make run` and `make test`.
SHELL := /bin/bash
PY := .venv/bin/python
VENV_STAMP := .venv/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
PYTEST_WORKERS ?= 2

.PHONY: run test test-sqlite test-postgresql lint venv browser bench-tools clean docs translations screenshots

venv: $(VENV_STAMP)

$(VENV_STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	rm -f .venv/.installed-*
	touch $@

# Debian's chromium for the browser tests (Playwright drives /usr/bin/chromium; it never downloads one).
browser:
	@bash scripts/ensure-chromium

# Debian's wrk, the load generator bench/tracking.py uses when it is installed.
bench-tools:
	@bash scripts/ensure-wrk

run: venv
	$(PY) -m scripts.run_local

test: venv browser
	$(MAKE) test-sqlite
	@if [ -n "$$TEST_DATABASE_URL" ]; then $(MAKE) test-postgresql; \
	else echo "TEST_DATABASE_URL not set: PostgreSQL run skipped (.ci/run sets it)"; fi

test-sqlite: venv
	env -u TEST_DATABASE_URL $(PY) -m pytest -n $(PYTEST_WORKERS) -p no:cacheprovider

test-postgresql: venv
	$(PY) -m pytest -n $(PYTEST_WORKERS) -p no:cacheprovider -m "not db_independent"

# The settings table in docs/configuration.md and README.md, from config/settings.py.
docs: venv
	$(PY) -m config docs

# English UI text: extract every _()/_l() and template string, merge into the .po, compile the .mo.
# Message ids are the Japanese text; translate new entries in translations/en/LC_MESSAGES/messages.po.
BABEL_EXTRACT := -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output --no-wrap \
	--ignore-dirs=".* _* tests instance migrations bench node_modules"
translations: venv
	.venv/bin/pybabel extract $(BABEL_EXTRACT) -o translations/messages.pot .
	if [ -f translations/en/LC_MESSAGES/messages.po ]; then \
	  .venv/bin/pybabel update --no-fuzzy-matching --no-wrap -i translations/messages.pot -d translations -l en; \
	else .venv/bin/pybabel init -i translations/messages.pot -d translations -l en; fi
	.venv/bin/pybabel compile -d translations -l en

# ruff, the import direction between packages and mypy on the packages it covers (pyproject.toml, docs/architecture.md).
lint: venv
	.venv/bin/ruff check .
	.venv/bin/lint-imports --no-cache
	.venv/bin/mypy

clean:
	rm -rf .venv instance .pytest_cache .ruff_cache .mypy_cache

# Refresh the front-line screenshots in docs/img/ (docs/forms.md#screenshots).
screenshots: venv
	TSUNAGI_SCREENSHOTS=1 .venv/bin/python -m pytest -n 0 -p no:cacheprovider tests/forms/test_screenshots.py -q
