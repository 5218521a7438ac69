# Two commands: `make book` and `make test`. Both set up .venv from the pinned
# requirements first (only when requirements.txt or pyproject.toml changed).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
JOBS   ?= auto

.PHONY: help setup book serve pdf lab test test-fast release check bench clean
.DEFAULT_GOAL := help

help:  ## show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

setup: $(STAMP)  ## create .venv with the pinned dependencies and the lrlab package

book: setup  ## build the book (every chapter executed) into _build/html
	$(BIN)/jupyter-book build . --warningiserror --nitpick --keep-going
	@echo "Open _build/html/index.html in a browser."

PORT ?= 8000
serve:  ## serve the built book on localhost (default PORT=8000; run make book first)
	@test -f _build/html/index.html || { echo "No built book in _build/html: run 'make book' first."; exit 1; }
	@echo "Serving the book on http://127.0.0.1:$(PORT)/ (Ctrl-C to stop)"
	$(BIN)/python -m http.server --bind 127.0.0.1 --directory _build/html $(PORT)

pdf: setup  ## print the built book to one PDF, _build/pdf/learning-rate-schedules.pdf (run make book first)
	$(BIN)/python tools/book_pdf.py

lab: setup  ## students: JupyterLab in workspace/ with nbgrader's Assignments tab and Validate button
	$(BIN)/python -m autograder lab

test: setup  ## run the whole test suite (unit, notebooks, autograder, book build)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -n $(JOBS) --dist loadgroup

test-fast: setup  ## the unit tests only (skips the book build and grading runs)
	$(BIN)/python -m pytest -m "not slow"

release: setup  ## regenerate exercises/ from solutions/
	$(BIN)/python -m autograder release

check: setup  ## fail if exercises/ is out of date or leaks solutions
	$(BIN)/python -m autograder check

bench: setup  ## print the benchmark tables
	$(BIN)/python benchmarks/run.py

clean:  ## remove build outputs (keeps .venv)
	rm -rf _build .course
