# imgsvc: `make run` starts everything locally; `make test` runs the whole suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-stamp
# A throwaway virtualenv with Pillow-SIMD for `make bench-simd` (never committed).
SIMD_VENV ?= /tmp/imgsvc-simd-venv

.PHONY: run test test-fast rehearsal lint format bench bench-forked bench-simd bench-load bench-service bench-reconcile bench-backfill bench-slowclients bench-hostile clean system

$(STAMP): pyproject.toml
	@scripts/bootstrap.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

system:
	@scripts/bootstrap.sh

run: $(STAMP) system  ## web + worker + embedded Redis on http://127.0.0.1:$${PORT:-5000}/
	$(BIN)/imgsvc dev

test: $(STAMP) lint  ## the whole suite, as CI runs it (installs chromium for the browser tests)
	@scripts/bootstrap.sh chromium
	$(BIN)/pytest --durations=25

test-fast: $(STAMP) system  ## everything but the slow end-to-end tests
	$(BIN)/pytest -m "not slow"

rehearsal: $(STAMP) system  ## every part its own host in network namespaces, faults included (root; part of `make test`); JSON report in test-output/ or REPORT=path
	REHEARSAL_REPORT=$(or $(REPORT),test-output/rehearsal-report.json) $(BIN)/pytest -s tests/system/test_rehearsal.py

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)  ## image pipeline vs naive Pillow and libvips (< 5 min); JSON in test-output/
	@mkdir -p test-output
	$(BIN)/python -m benchmarks.pipeline --json test-output/bench-pipeline.json \
		$(if $(SIMD_PYTHON),--simd-python $(SIMD_PYTHON))

bench-forked: $(BENCH_STAMP)  ## the 12/24 MP jobs in forked work-horses, as RQ runs them (~1.5 min)
	@mkdir -p test-output
	$(BIN)/python -m benchmarks.forked --json test-output/bench-forked.json

# Pillow-SIMD compiles from source: needs a C compiler and the libjpeg, zlib,
# libwebp and lcms2 headers (Debian: libjpeg-dev zlib1g-dev libwebp-dev liblcms2-dev).
$(SIMD_VENV)/.built:
	$(PYTHON) -m venv $(SIMD_VENV)
	$(SIMD_VENV)/bin/python -m pip install -q -e .
	$(SIMD_VENV)/bin/python -m pip uninstall -q -y pillow
	CC="cc -mavx2" $(SIMD_VENV)/bin/python -m pip install -q --no-binary pillow-simd pillow-simd
	@touch $@

bench-simd: $(BENCH_STAMP) $(SIMD_VENV)/.built  ## `make bench`, plus imgsvc under Pillow-SIMD
	$(MAKE) bench SIMD_PYTHON=$(SIMD_VENV)/bin/python

bench-load: $(STAMP) system  ## 200 uploads from 16 clients through gunicorn + 2 workers; JSON in test-output/
	@mkdir -p test-output
	$(BIN)/python -m benchmarks.load --json test-output/bench-load.json

bench-service: $(STAMP) system  ## upload latency, queue overhead, 1 vs 2 workers; JSON in test-output/
	@mkdir -p test-output
	$(BIN)/python -m benchmarks.service --json test-output/bench-service.json

bench-slowclients: $(STAMP) system  ## a normal client with 0 and 1,000 slow connections open (the front); JSON in test-output/
	@mkdir -p test-output
	$(BIN)/python -m benchmarks.front --json test-output/bench-slowclients.json

bench-reconcile: $(STAMP) system  ## a reconcile pass per finished image, with and without settled markers
	@mkdir -p test-output
	$(BIN)/python -m benchmarks.reconcile --json test-output/bench-reconcile.json

bench-backfill: $(STAMP) system  ## backfill of a 2560 px variant on 12 MP originals; an upload's wait with and without it
	@mkdir -p test-output
	$(BIN)/python -m benchmarks.backfill --json test-output/bench-backfill.json

bench-hostile: $(STAMP)  ## the header check on hostile uploads vs a 12 MP photo (ratios); JSON in test-output/
	@mkdir -p test-output
	$(BIN)/python -m benchmarks.hostile --json test-output/bench-hostile.json

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var .pytest_cache test-output
