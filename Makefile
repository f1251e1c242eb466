# ringlab: every set-up step is a target; `make demo` and `make test` are all a
# newcomer needs.  Both create the virtualenv and provision QEMU and the guest
# images into ~/.cache/ringlab on first use (a few minutes, with progress).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-unit bench lecture lint docs gen check-gen starters check-starters images clean-cache help

help:
	@echo "make demo    boot the lab and show what it measures (provisions on first use)"
	@echo "make test    run every test, VM tests included (provisions on first use)"
	@echo "make bench   print the benchmark figures, one 'name value [unit]' per line"
	@echo "make lecture the lecture's claims measured again (HTML report, plots)"
	@echo "make docs    build the course site into docs/_build/html (warnings are errors)"
	@echo "make lint    ruff + mypy"

# Missing host tools are installed (as root on Debian/Ubuntu) or named with the one
# command to run: images/host_tools.py is the list, for these targets and .ci/run.
$(STAMP): pyproject.toml
	$(PYTHON) images/host_tools.py ensure venv
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# RINGLAB_BUNDLE=FILE: import images an instructor built (ringlab images export) instead
# of building them; that needs neither root nor the image-building host tools.
images: $(STAMP)
ifneq ($(RINGLAB_BUNDLE),)
	$(BIN)/ringlab images import "$(RINGLAB_BUNDLE)"
else
	@$(PYTHON) images/host_tools.py ensure images
	$(BIN)/ringlab images build
endif

# The two-VM lab and its per-packet figures, then exercise 01 graded on its
# reference solution: the table a student's work is measured against.
demo: images
	$(BIN)/ringlab demo
	$(BIN)/ringlab grade 01-sockets --submission exercises/01-sockets/solution

# The test scope adds libvirt (started as root where no systemd does) and libvirt-python
# for the libvirt backend's tests.
test: images
	@$(PYTHON) images/host_tools.py ensure test
	@$(BIN)/python -c 'import libvirt' 2>/dev/null || $(BIN)/pip install -q -e '.[libvirt]'
	$(BIN)/pytest -q

test-unit: $(STAMP)
	$(BIN)/pytest -q -m "not vm"

# The lecture's measured claims, measured again here: an HTML report with plots.
lecture: images
	$(BIN)/ringlab lecture

bench: images
	@for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy lab vnic images

docs: $(STAMP)
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html
	$(BIN)/sphinx-build -W --keep-going -q -b linkcheck docs docs/_build/linkcheck

# The register spec generates the guest C header and the datasheet page.
gen: $(STAMP)
	$(BIN)/python -m vnic.model.codegen

check-gen: $(STAMP)
	$(BIN)/python -m vnic.model.codegen --check

# Exercise starters are generated from the solutions' TODO regions.
starters: $(STAMP)
	$(BIN)/python -m lab.grading.starter

check-starters: $(STAMP)
	$(BIN)/python -m lab.grading.starter --check

clean-cache: $(STAMP)
	$(BIN)/ringlab images clean
