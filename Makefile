# Two commands do everything on a fresh machine (Python >= 3.11 on PATH):
#   make replicate   the embedded default (or PRESET=paper / PRESET=path.yaml) through Snakemake -> reports/index.html
#   make test        the test suite (what .ci/run calls)
#   make test-fast   its unit tests only (no test that starts a process: tests/support/tiers.py), within 2 minutes
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
PRESET ?=
CORES ?= 2
PRESET_FILE := $(if $(PRESET),$(if $(findstring /,$(PRESET)),$(PRESET),config/presets/$(PRESET).yaml),)
PRESET_ARGS := $(if $(PRESET),--configfile $(PRESET_FILE),)
# Snakemake parses the embedded default and a --configfile with its own YAML loader, which names no file on an error
# and expands an alias bomb: the bounded reader checks both first (one line naming the file).
CONFIG_CHECK := $(strip $(BIN)/x2softmax config-check $(if $(PRESET),--preset $(PRESET_FILE))) &&
SNAKEMAKE := $(BIN)/snakemake --cores $(CORES) $(PRESET_ARGS)

.PHONY: data replicate test test-fast review plan cluster-check rehearse gpu-check wheels device-image dry-run lint browser slurm cluster clean

# pip installs without byte-compiling (one process, one core); COMPILE then writes the same .pyc files on every core
# (pip's rule: a file that does not compile is skipped), leaving out the packages' own test folders, which no job
# imports. The .pyc files are needed where PYTHONDONTWRITEBYTECODE is set: no process could cache what it compiles.
# The test install is one pip run with the base (one resolve, one editable build) and stamps both. A killed install
# leaves no stamp; the next make reinstalls nothing and compiles what is missing (docs/timings.md).
# The venv's pip is first brought to the lock's (pip 23.2.1, what Python 3.11's ensurepip puts there, takes about
# twice the CPU-seconds of pip 26.2.1 to resolve and install the same set: docs/timings.md, branch i35-pip).
define NEW_VENV
@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed (set PYTHON=...)")'
test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
$(BIN)/python -m pip install -q pip -c requirements.lock
endef
PIP_INSTALL := $(BIN)/python -m pip install -q --no-compile torch==2.13.0 -c requirements.lock
COMPILE := $(BIN)/python -c 'import compileall, re; compileall.compile_dir("$(VENV)/lib", quiet=2, workers=0, \
	rx=re.compile(r"/site-packages/.+/tests?/"))'

$(STAMP): pyproject.toml requirements.lock
	$(NEW_VENV)
	$(PIP_INSTALL) -e .
	$(COMPILE)
	touch $(STAMP)

$(TEST_STAMP): pyproject.toml requirements.lock
	$(NEW_VENV)
	$(PIP_INSTALL) -e '.[test,detect]'
	$(COMPILE)
	touch $(STAMP) $(TEST_STAMP)

# The preset's data only: generated (synthetic) or fetched and checked (real), up to the preflight (DVC stage `data`).
data: $(STAMP)
	$(CONFIG_CHECK) PATH=$(CURDIR)/$(BIN):$$PATH $(SNAKEMAKE) --rerun-incomplete results/preflight.json

# DVC's stages (dvc.yaml): params.yaml's values are checked by the package, never put into a shell command.
.PHONY: dvc-data dvc-replicate
dvc-data dvc-replicate: $(STAMP)
	$(BIN)/python -m x2softmax.dvc_stage $(@:dvc-%=%)

# x2softmax.snakerun turns Snakemake's known tracebacks (corrupt .snakemake/metadata, read-only outputs, a stale
# lock) into one line saying what to do.
# A study preset (one with a `mechanism:` grid, config/presets/mechanism.yaml) writes only results/mechanism and
# reports/mechanism: its page, and its Snakemake report beside it; the default's pages and tables are not touched.
STUDY := $(if $(PRESET),$(shell grep -qs '^mechanism:' $(PRESET_FILE) && echo mechanism),)
REPORT_HOME := reports$(if $(STUDY),/$(STUDY))
REPORT_PAGE := $(if $(STUDY),$(REPORT_HOME)/08_mechanism.html,reports/index.html)

replicate: $(STAMP)
	$(CONFIG_CHECK) $(BIN)/python -m x2softmax.snakerun $(SNAKEMAKE) --rerun-incomplete
	@if [ ! -f $(REPORT_HOME)/report.html ] || [ $(REPORT_PAGE) -nt $(REPORT_HOME)/report.html ]; then \
		$(SNAKEMAKE) --report $(REPORT_HOME)/report.html >/dev/null 2>&1 \
		  || echo "note: snakemake --report failed (see: $(SNAKEMAKE) --report $(REPORT_HOME)/report.html)"; fi
	@echo "Report: $(CURDIR)/$(REPORT_PAGE)"
	@$(if $(STUDY),true,$(BIN)/x2softmax report reproduction --summary --out reports/tables/reproduction.csv)

browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| echo "note: chromium not installed; the browser test will skip, which fails make test"; }

# The Slurm integration test needs Debian's slurm-wlm and munge (installed here as root when missing).
slurm:
	@.ci/install-slurm

# The cluster executors (Slurm, Kubernetes) for profiles/slurm and profiles/kubernetes.
cluster: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[cluster]'

# The simulated lent GPU machine the tests run the device check on (tests/gpucheck): its image at the versions of
# device_image.txt and the wheel bundle for this Python, from the registry once; the tests then need no network.
DEVICE_SIM := .device-sim
$(DEVICE_SIM)/.built: $(TEST_STAMP) src/x2softmax/gpucheck/device_image.txt
	$(BIN)/python -m x2softmax.gpucheck.image build $(DEVICE_SIM)
	touch $@

test: $(TEST_STAMP) $(DEVICE_SIM)/.built browser slurm
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder -q --durations=25 tests

# The fast tier: every test that starts no process (no Snakemake, DVC, papermill, Chromium, Slurm, no second Python);
# tests/conftest.py marks the rest `slow` by rule and fails an unmarked test that starts one.
test-fast: $(TEST_STAMP)
	$(BIN)/python -m pytest -n 2 -q -m "not slow" --durations=10 tests

review: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m x2softmax.review $(PRESET_ARGS)

plan: $(STAMP)
	$(BIN)/x2softmax plan $(if $(PRESET),--preset $(PRESET),) $(if $(MEASURED),--measured $(MEASURED),)

# On a Slurm login node, before the first run: every job kind's request against the nodes of its partition (sinfo).
cluster-check: $(STAMP)
	$(BIN)/x2softmax cluster-check $(if $(PRESET),--preset $(PRESET),)

# The paper preset's code at the paper's shapes on the CPU, few steps per run: the table in results/rehearsal/.
rehearse: $(STAMP)
	$(BIN)/x2softmax rehearse --preset $(or $(PRESET),paper) --out results/rehearsal

# One command for a machine with a GPU (<= 8 min, one JSON summary, non-zero exit on failure); DRY=1 runs every
# check on the CPU at tiny shapes. Without a GPU (and without DRY=1) it says so and exits 0.
# DEVICE=1: the lent GPU machine as it is (its own python3 and torch, no network): tools/device-gpu-check.sh, which
# adds only the missing wheels from .whl (make wheels, here) and writes its results to $(OUT) (results/device).
ifdef DEVICE
gpu-check:
	tools/device-gpu-check.sh $(if $(DRY),--dry,) $(or $(OUT),results/device)
else
gpu-check: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/x2softmax gpu-check $(if $(DRY),--dry,)
endif

# Every wheel gpu-check needs but the lent machine's torch and numeric stack (CPython 3.12), in .whl: also the
# packages the image has (packaging, jinja2, ...), so the check runs whatever versions it holds; prints the total.
wheels: $(STAMP)
	$(BIN)/x2softmax wheels --out .whl

# The simulated machine's image versions from the registry (its newest; the recorded ones where served), rewritten in
# src/x2softmax/gpucheck/device_image.txt: commit the change, make test then rebuilds .device-sim.
device-image: $(STAMP)
	$(BIN)/python -m x2softmax.gpucheck.image refresh

dry-run: $(STAMP)
	$(CONFIG_CHECK) $(SNAKEMAKE) -n

lint: $(STAMP)
	$(BIN)/snakemake --lint

# What a run wrote and git does not track goes (results, logs, Snakemake's state, Snakemake's report); tracked files,
# the committed pages among them, are left as they are (regenerated or not).
clean:
	rm -rf results logs .snakemake reports/report.html
