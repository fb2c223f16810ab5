# meshrender: `make render` renders the example repo, `make test` runs every test.
# Both bootstrap a virtualenv in .venv from pyproject.toml; only Python is needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
REPO   ?= fixtures/demo
OUT    ?= out
FLAGS  ?=

.PHONY: render lint diff test conformance bench fmt check clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

render: $(STAMP)  ## render REPO (default fixtures/demo) into OUT (default out/)
	$(BIN)/meshrender render $(REPO) -o $(OUT) $(FLAGS)

lint: $(STAMP)  ## lint REPO
	$(BIN)/meshrender lint $(REPO) $(FLAGS)

diff: $(STAMP)  ## show what rendering REPO would change in OUT
	$(BIN)/meshrender diff $(REPO) --against $(OUT) $(FLAGS)

test: $(STAMP)  ## the whole test suite (unit, CLI, conformance, integrations)
	$(BIN)/python -m pytest

conformance: $(STAMP)  ## Istio's injection corpus against the istio flavor, with diffs
	$(BIN)/python ../shared/conformance/istio/run.py --cmd $(BIN)/meshrender --tier all -v

bench: $(STAMP)  ## render/lint throughput against the YAML floor (N=2000 by default)
	$(BIN)/python bench/run.py $(if $(N),--workloads $(N),)

check: $(STAMP)  ## ruff
	$(BIN)/ruff check render policies tests bench

clean:
	rm -rf $(VENV) $(OUT) build *.egg-info .pytest_cache .ruff_cache
