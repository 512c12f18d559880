# Two commands on a fresh machine: `make run` starts the app, `make test` runs the checks.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench soak package clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# Wheels only (no compiler on any platform), but for argparse-manpage: a pure-Python tool of the test and
	# package extras that is published as source alone (building it needs no compiler either).
	$(PY) -m pip install --quiet --only-binary=:all: --no-binary=argparse-manpage -e '.[test,cluster]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/thumbnailer-gui $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy --strict core
	$(VENV)/bin/mypy --follow-imports=silent gui  # core is checked strictly above

test: lint
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache

# The packaged app (docs/packaging.md): a one-folder PyInstaller build in dist/batch-thumbnailer,
# the Linux tar.gz and .deb beside it, then the smoke test of all three as a user would start them.
PACKAGE_STAMP := $(VENV)/.installed-package

.PHONY: package-build package-smoke

$(PACKAGE_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[package]'
	touch $(PACKAGE_STAMP)

package-build: $(PACKAGE_STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m PyInstaller --noconfirm --clean --log-level WARN \
		--distpath dist --workpath build/pyinstaller packaging/thumbnailer.spec
	$(PY) packaging/linux/make_packages.py

package-smoke:
	$(PY) packaging/smoke_test.py

package: package-build
	$(MAKE) package-smoke

# Benchmarks (not tests): every figure a ratio against baselines measured in the same run; see docs/benchmarks.md.
# As root, installs the real web server and the vipsthumbnail and aria2c baselines from Debian when they are missing.
# BENCH_ARGS: e.g. `--runs 5`, `throughput` (one section), `--smoke` (seconds, numbers meaningless).
bench: $(STAMP)
	@if [ "$$(id -u)" = 0 ]; then \
		missing=""; \
		command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || missing="$$missing nginx-light"; \
		command -v vipsthumbnail >/dev/null 2>&1 || missing="$$missing libvips-tools"; \
		command -v aria2c >/dev/null 2>&1 || missing="$$missing aria2"; \
		if [ -n "$$missing" ]; then \
			echo "installing$$missing for the benchmarks"; \
			apt-get update -qq; \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null \
			|| DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$(echo $$missing | sed s/nginx-light/nginx/) >/dev/null; \
		fi; \
	fi
	$(PY) -m benchmarks $(BENCH_ARGS)

# The 100,000-item fault-suite soak (tests/faults/test_soak.py): minutes, not part of `make test`.
soak: $(STAMP)
	THUMBNAILER_SOAK=1 QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -s -p no:cacheprovider -m soak tests/faults/test_soak.py
