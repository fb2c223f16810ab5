# meshrender: `make render` renders the example repo, `make test` runs every test.
# Both build a virtualenv in .venv from requirements.lock (exact versions, hash-checked);
# only Python is needed. `make lock` refreshes the lock from pyproject.toml's ranges.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
REPO   ?= fixtures/demo
OUT    ?= out
FLAGS  ?=

.PHONY: render lint diff test conformance bench fmt check lock clean

# The venv is rebuilt from scratch whenever the lock changes: packages a previous lock
# installed must not survive into this one (a venv left from an earlier day hides a
# broken install). Dependencies come only from the lock, with their hashes checked;
# meshrender itself is installed without touching them.
$(STAMP): requirements.lock pyproject.toml
	@rm -rf $(VENV)
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements.lock
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
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

bench: $(STAMP)  ## throughput against the YAML floor (N=2000), then the warm case (WARM=10000, 0: none)
	$(BIN)/python bench/run.py $(if $(N),--workloads $(N),) $(if $(WARM),--warm-workloads $(WARM),)

check: $(STAMP)  ## ruff
	$(BIN)/ruff check render policies tests bench fuzz

# Refresh requirements.lock from pyproject.toml (newest versions its ranges allow), with
# pip-tools in a throwaway venv; then `make test` rebuilds .venv from the new lock.
lock:
	@rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	@.lock-venv/bin/python -m pip install --quiet --disable-pip-version-check 'pip-tools>=7.4'
	.lock-venv/bin/pip-compile --quiet --upgrade --extra test --all-build-deps --generate-hashes --allow-unsafe \
		--strip-extras --no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml
	@rm -rf .lock-venv

clean:
	rm -rf $(VENV) $(OUT) build *.egg-info .pytest_cache .ruff_cache .lock-venv
