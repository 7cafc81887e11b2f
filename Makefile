# Two commands on a fresh machine: `make serve` and `make test`. Each creates .venv as needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: serve test bench soak fuzz fixtures clean install

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[dev,bench]'
	touch $(BENCH_STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(BIN)/civitai-mock serve $(ARGS)

# both cores: test files are spread over workers (a file stays on one worker: its fixtures are shared)
JOBS ?= auto
test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(JOBS) --dist loadfile $(PYTEST_ARGS)

# figures with ratios against baselines measured in the same run (moto is a bench-only extra)
bench: $(BENCH_STAMP)
	$(BIN)/python -m bench $(ARGS)

# 10 000 workflows with callbacks on a served fake at --speed 1000, beside a receiver that hangs
soak: $(STAMP)
	$(BIN)/python -m bench.soak $(ARGS)

fuzz: $(STAMP)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-50000} CIVITAI_MOCK_SLOW=1 $(BIN)/python -m pytest -q tests/test_fuzz.py

fixtures: $(STAMP)
	$(BIN)/python fixtures/generate.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .schemathesis build *.egg-info
