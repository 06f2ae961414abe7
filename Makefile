# Two commands on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/curate demo-data demo/data
	$(BIN)/curate run pipelines/demo.yaml --overwrite
	$(BIN)/curate run pipelines/math-rl.yaml --input 'demo/data/problems-*' --output demo/math-rl --set 'decontaminate.against=[demo/data/benchmark.jsonl]' --set decontaminate.n=13 $(if $(OPENAI_BASE_URL),,--set generate.enabled=false --set verify.response_field=solutions) --overwrite
	$(BIN)/curate run pipelines/web-quality.yaml --input 'demo/data/web-*' --output demo/web-quality --overwrite

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/runner_overhead.py
	$(BIN)/python benchmarks/near_dedup_speed.py
	$(BIN)/python benchmarks/near_dedup_accuracy.py
	$(BIN)/python benchmarks/near_dedup_memory.py
	$(BIN)/python benchmarks/quality_filters.py  # makes benchmarks/_data/datatrove-venv on first use
	$(BIN)/python benchmarks/quality_stages.py
	$(BIN)/python benchmarks/generate_throughput.py
	$(BIN)/python benchmarks/verify_throughput.py
	$(BIN)/python benchmarks/export_throughput.py

clean:
	rm -rf demo/run demo/math-rl demo/web-quality demo/data .pytest_cache
