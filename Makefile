# Safecase: every target sets up .venv and installs what it needs when missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# The demo campaign runs on Spark in local mode when Java is installed, else in-process.
DEMO_EXECUTOR ?= $(shell command -v java >/dev/null 2>&1 && echo spark || echo local)
# The public keys the ledger publishes (keys/ of the default store, SAFECASE_STORAGE_URL): what
# a regulator obtains from the operator, independently of the package, to verify its origin.
DEMO_STORE_KEYS ?= var/store/keys

.PHONY: install demo test serve bench lint worker clean node-packages

$(STAMP): requirements/base.txt requirements/dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Safecase needs Python 3.11 (set PYTHON=/path/to/python3.11)")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/base.txt -r requirements/dev.txt
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	DEBUG=1 $(PY) manage.py migrate --noinput
	DEBUG=1 $(PY) manage.py seed_demo
	DEBUG=1 $(PY) manage.py run_campaign --project AEB --campaign AEB-demo --user erin --executor $(DEMO_EXECUTOR)
	DEBUG=1 $(PY) manage.py run_campaign --project AEB --campaign NGSIM-replay --user erin --if-exists
	DEBUG=1 $(PY) manage.py verify_ledger --project AEB
	mkdir -p var/demo/check
	DEBUG=1 $(PY) manage.py export_package --project AEB -o var/demo/AEB-package.zip --user sam
	$(PY) -c "import zipfile; z = zipfile.ZipFile('var/demo/AEB-package.zip'); \
		open('var/demo/AEB-evidence-pack.pdf', 'wb').write(z.read('evidence-pack.pdf')); \
		open('var/demo/check/verify.py', 'wb').write(z.read('verify.py'))"
	@echo "== the regulator's check: the package's own verify.py, standard library only,"
	@echo "   trusting the key the operator publishes in the store ($(DEMO_STORE_KEYS)/), never one from the package"
	awk 1 $(DEMO_STORE_KEYS)/*.vkey > var/demo/check/trusted.vkey
	@echo "   trusted fingerprint(s), as the operator publishes them:"
	$(PYTHON) -I -S evidence/verify.py fingerprint var/demo/check/trusted.vkey
	cd var/demo/check && $(PYTHON) -I -S verify.py ../AEB-package.zip --trusted-key trusted.vkey
	@echo
	@echo "Demo ready: certification package var/demo/AEB-package.zip,"
	@echo "PDF evidence pack var/demo/AEB-evidence-pack.pdf."
	@echo "Run 'make serve', open http://127.0.0.1:8000/ or /api/docs/"
	@echo "and log in as admin with password '$${SAFECASE_DEMO_PASSWORD:-safecase-demo}'."

# The suite runs in parallel, one process per core (at most 4, tests/conftest.py);
# TEST_WORKERS=0 runs it in this one process (for --pdb, say). PYTEST_ARGS go to pytest.
TEST_WORKERS ?= auto

# The browser tests' Node.js packages (tests/oidc: the OpenID provider, axe-core), installed
# from the committed lock file; without npm those tests skip and say so.
NODE_STAMP := tests/oidc/node_modules/.installed

$(NODE_STAMP): tests/oidc/package.json tests/oidc/package-lock.json
	npm ci --prefix tests/oidc --no-audit --no-fund
	@touch $@

node-packages:
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory $(NODE_STAMP); \
	else echo "npm not found: the single sign-on and accessibility browser tests will skip"; fi

test: $(STAMP) node-packages
	$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

serve: $(STAMP)
	DEBUG=1 $(PY) manage.py migrate --noinput
	DEBUG=1 $(PY) manage.py runserver 127.0.0.1:8000

worker: $(STAMP)
	$(VENV)/bin/celery -A config worker --loglevel=INFO

bench: $(STAMP)
	$(PY) -m benchmarks $(BENCH_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache --no-logo
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run
	DEBUG=1 $(PY) manage.py spectacular --fail-on-warn > /dev/null

clean:
	rm -rf $(VENV) var
