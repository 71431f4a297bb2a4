# Attention, step by step: the commands in the README. Each target sets up .venv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Notebooks run without progress bars outside JupyterLab, so stored outputs are reproducible.
export COURSE_PROGRESS := 0
export PYTHONHASHSEED := 0
# The solutions' hidden tests judge their answers with the instructors' judge (utils/checks/submit.py).
export ATTENTION_JUDGE := grading.judge:judge
# Tests run on this many cores (pytest-xdist): each notebook, and each test module, stays on one.
JOBS ?= 2
XDIST := -n $(JOBS) --dist loadfile --no-loadscope-reorder

.PHONY: help setup book test unit nbval sync lab chapters solutions bench robustness clean browser

help:
	@echo "make book       build the Jupyter Book into _build/html (the main job)"
	@echo "make unit       the unit tests of utils, grading and tools (no notebook, book or nbgrader)"
	@echo "make test       every test: unit, nbval on solutions/ and chapters/, sync, book -W, nbgrader"
	@echo "make lab        JupyterLab on chapters/"
	@echo "make chapters   regenerate chapters/ from solutions/ (executed)"
	@echo "make solutions  re-execute solutions/ in place"
	@echo "make bench      run time and peak memory of every chapter, plus speed tables"
	@echo "make robustness every solutions notebook under 5 other model seeds (ARGS=\"--only 04 --offsets 1-10\")"

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	@touch $(STAMP)

setup: $(STAMP)

book: $(STAMP)
	$(VENV)/bin/jupyter-book build . --all
	@echo "Open $(CURDIR)/_build/html/index.html in a browser."

# One pytest run: unit tests, sync and metadata checks, the -W book build, nbgrader, and nbval over
# both notebook folders (chapters/ under another seed: see conftest.py). Exit code 5 (nothing
# collected) fails like any other non-zero code.
test: $(STAMP)
	@bash tools/install_browser.sh
	@bash tools/install_sandbox.sh
	$(PY) -m pytest tests solutions chapters --nbval --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout 600 $(XDIST)

browser: $(STAMP)
	@bash tools/install_browser.sh
	$(PY) -m pytest tests/test_browser.py tests/test_book.py

# The unit tests of utils/, grading/ and tools/: everything not marked slow (about 50 s on 2 cores).
unit: $(STAMP)
	$(PY) -m pytest tests -m "not slow" $(XDIST)

nbval: $(STAMP)
	$(PY) -m pytest solutions chapters --nbval --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout 600 -p no:cacheprovider

sync: $(STAMP)
	$(PY) tools/notebooks.py check

lab: $(STAMP)
	COURSE_PROGRESS=1 $(VENV)/bin/jupyter lab chapters/

chapters: $(STAMP)
	$(PY) tools/notebooks.py chapters

solutions: $(STAMP)
	$(PY) tools/notebooks.py execute solutions/[0-9][0-9]_*.ipynb

bench: $(STAMP)
	$(PY) tools/bench.py --write-readme

# Do the claims hold under other seeds? COURSE_SEED_OFFSET=1..5 by default; see tools/robustness.py.
robustness: $(STAMP)
	$(PY) tools/robustness.py $(ARGS)

clean:
	rm -rf _build .pytest_cache
