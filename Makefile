# raster-collect: every target installs what it uses (see `make setup`).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := qgis python3-qgis qgis-providers python3-venv python3-pip python3-matplotlib python3-gdal
# `make deploy` target: the default profile of a Linux QGIS 3.x; QGIS 4 keeps profiles under
# QGIS4/ (pass QGIS_PROFILE_PLUGINS=...). The plugin itself asks QGIS for its profile folder.
QGIS_PROFILE_PLUGINS ?= $(HOME)/.local/share/QGIS/QGIS3/profiles/default/python/plugins
PLUGIN := raster_collect_plugin
VERSION := $(shell sed -n 's/^version=//p' metadata.txt)
DIST ?= dist
ZIP := $(DIST)/$(PLUGIN)-$(VERSION).zip
# the engine's requirements ship inside the plugin: one source for the plugin, its engine setup,
# the doctor, the package and this venv
# (one lock per Python minor version: make engine-locks)
BASE_PYTHON ?= /usr/bin/python3
PYV := $(shell $(BASE_PYTHON) -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")' 2>/dev/null || echo 311)
ENGINE_LOCK := $(PLUGIN)/constraints-py$(PYV).txt
ENGINE_REQUIREMENTS := $(PLUGIN)/requirements.txt $(ENGINE_LOCK)
export QT_QPA_PLATFORM ?= offscreen
export XDG_RUNTIME_DIR ?= /tmp/runtime-$(shell id -u)

.PHONY: setup test test-qgis-matrix lint package deploy demo benchmark screenshots clean engine-locks \
	test-engine-matrix

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt $(ENGINE_REQUIREMENTS)
	@if ! command -v qgis_process >/dev/null || ! /usr/bin/python3 -c "import qgis.core" 2>/dev/null; then \
		echo "== installing QGIS from Debian"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null; \
	fi
	@command -v node >/dev/null || { echo "== installing nodejs (Sentinel Hub fixture runs evalscripts)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends nodejs >/dev/null; }
	@test -x $(PY) || $(BASE_PYTHON) -m venv --system-site-packages $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=24"
	$(PY) -m pip install -q -c constraints.txt -c $(ENGINE_LOCK) -r requirements-dev.txt
	$(PY) -m pip install -q -c constraints.txt -c $(ENGINE_LOCK) --no-deps -e .
	@touch $@

# two test processes (pytest-xdist), each taking whole test files (their fixtures stay shared)
# in the order tests/conftest.py gives them (TEST_WORKERS=0: one process); then the tests
# marked `dock` in one process alone (QGIS 3.22's datum operations, README's known issue)
TEST_WORKERS ?= 2
test: setup
	@mkdir -p $(XDG_RUNTIME_DIR) && chmod 700 $(XDG_RUNTIME_DIR)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder -m "not dock"
	$(PY) -m pytest -m dock

# the plugin on Debian 13's QGIS 3.40 and sid's 3.44 (debootstrap roots cached in
# /var/cache/raster-collect), compared with this machine's QGIS run with the .venv engine;
# ENGINE_CONSTRAINTS= / ENGINE_REQUIREMENTS_OVERRIDE= try other engine pins inside the roots
QGIS_MATRIX_LEGS ?= 3.40 3.44
test-qgis-matrix: setup
	$(SUDO) env REFERENCE_ENGINE=$(abspath $(PY)) COMPARE_PYTHON=$(abspath $(PY)) \
		ENGINE_CONSTRAINTS=$(ENGINE_CONSTRAINTS) \
		ENGINE_REQUIREMENTS_OVERRIDE=$(ENGINE_REQUIREMENTS_OVERRIDE) \
		tools/qgis_matrix.sh $(QGIS_MATRIX_LEGS)

# re-resolve the engine's locks (one per Python, wheels only, every platform) and the set-up
# figures from requirements.txt; needs the package registry (a few minutes)
engine-locks: setup
	$(PY) tools/engine_locks.py

# the real engine made from each pyenv/system Python 3.12, 3.13 (and 3.14 when present) and the
# embedded sample's outputs compared with the 3.11 engine's (slow: several minutes per Python)
test-engine-matrix: setup
	@mkdir -p $(XDG_RUNTIME_DIR) && chmod 700 $(XDG_RUNTIME_DIR)
	RASTER_COLLECT_ENGINE_MATRIX=1 $(PY) -m pytest -m engine_matrix tests/test_engine_matrix.py

# ruff, then the Qt6 / QGIS 4 check (qgis-plugin-analyzer on the plugin as packaged)
lint: setup
	$(VENV)/bin/ruff check raster_collect_plugin tests benchmarks
	$(PY) tools/qt6_lint.py

# standard library only: works before `make setup`
package:
	rm -f $(ZIP)
	python3 tools/package_plugin.py $(ZIP)

deploy: package
	mkdir -p "$(QGIS_PROFILE_PLUGINS)"
	rm -rf "$(QGIS_PROFILE_PLUGINS)/$(PLUGIN)"
	cd "$(QGIS_PROFILE_PLUGINS)" && python3 -m zipfile -e $(abspath $(ZIP)) .
	@echo "deployed to $(QGIS_PROFILE_PLUGINS)/$(PLUGIN)"

demo: setup
	$(PY) -m raster_collect_plugin demo --output outputs/demo

benchmark: setup
	$(PY) benchmarks/run_all.py

screenshots: setup
	$(PY) tools/screenshots.py docs/screenshots

clean:
	rm -rf build dist .pytest_cache outputs
