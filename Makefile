# Two commands on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint chromium test-clients bench clean screenshots

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
	@if [ -f ../shared/data/math/traces/long_cot/sky_t1_math.jsonl ]; then $(BIN)/curate run pipelines/long-cot-sft.yaml --output demo/long-cot-sft --overwrite; else echo "long-cot-sft: skipped (its input, the real traces in ../shared/data, is not there)"; fi

test: lint chromium
	$(BIN)/python -m pytest -q

# Debian's chromium for the report's browser tests (tests/test_report_browser.py): installed when missing
# and we are root with apt-get (about a minute); otherwise those tests skip, saying why.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the report's browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	  else echo "chromium is missing and cannot be installed here (not root, or no apt-get): the report's browser tests will skip"; fi; }

# zero findings, or make test fails (configuration in pyproject.toml)
lint: $(STAMP)
	$(BIN)/ruff check curate tests tests_clients benchmarks docs
	$(BIN)/mypy

# The trainers' own code over curate's outputs, in a separate environment like a trainer's machine:
# verl, TRL, transformers, datasets, CPU torch, OpenRLHF without its GPU-only dependencies, and
# curate itself with --no-deps (curate.rewards needs only math-verify); and datasets 2.x alone
# in $(CLIENTS)/datasets2, which must load kept/, removed/ and the exports too. Built once (about 2 minutes
# from a warm pip cache), rebuilt when the requirements change.
CLIENTS := .venv-clients
$(CLIENTS)/.installed: tests_clients/requirements.txt pyproject.toml
	test -x $(CLIENTS)/bin/python || $(PYTHON) -m venv $(CLIENTS)
	$(CLIENTS)/bin/python -m pip install --quiet --upgrade pip
	$(CLIENTS)/bin/python -m pip install --quiet -r tests_clients/requirements.txt
	$(CLIENTS)/bin/python -m pip install --quiet --no-deps openrlhf==0.11.2
	$(CLIENTS)/bin/python -m pip install --quiet --no-deps -e .
	test -x $(CLIENTS)/datasets2/bin/python || $(PYTHON) -m venv $(CLIENTS)/datasets2
	$(CLIENTS)/datasets2/bin/python -m pip install --quiet 'datasets>=2.19,<3'
	touch $@

test-clients: $(STAMP) $(CLIENTS)/.installed
	CURATE_BIN=$(abspath $(BIN)) $(CLIENTS)/bin/python -m pytest -q -p no:cacheprovider tests_clients

# docs/report/*.png, the README's screenshots of `curate report`
screenshots: $(STAMP) chromium
	$(BIN)/python docs/report_screenshots.py

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
	$(BIN)/python benchmarks/reward_throughput.py
	$(BIN)/python benchmarks/output_files.py
	$(BIN)/python benchmarks/report_scale.py
	$(BIN)/python benchmarks/trace_defects.py
	$(BIN)/python benchmarks/trace_quality_speed.py --tokenizer build
	$(BIN)/python benchmarks/step_labels_requests.py
	$(BIN)/python benchmarks/exact_keys.py

clean:
	rm -rf $(CLIENTS) demo/run demo/math-rl demo/web-quality demo/long-cot-sft demo/data .pytest_cache
