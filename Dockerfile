# syntax=docker/dockerfile:1
# The Slack bot and the `ragbot` CLI, CPU only. Ollama runs in its own container (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TOKENIZERS_PARALLELISM=false
# The default embedding model loads from its package with no hub access; another EMBEDDING_MODEL is fetched
# from the Hugging Face hub at first start (set HF_HUB_OFFLINE=1 in .env for air-gapped hosts).

WORKDIR /app

# torch first, its CPU build (PyPI's Linux wheels, x86-64 and arm64, are CUDA builds with gigabytes of
# nvidia wheels); the same script as `make setup`. A failing step prints pip's output and one line why.
COPY scripts/install_torch.py scripts/quiet_pip.py ./scripts/
RUN python scripts/install_torch.py

# Then the package and the embedding model (shipped as a wheel, so the container needs no model download).
COPY pyproject.toml README.md ./
COPY rag ./rag
COPY bot ./bot
COPY ragbot ./ragbot
RUN python scripts/quiet_pip.py "installing ragbot and the embedding model" install ".[offline-model]"

RUN useradd --create-home --uid 10001 ragbot \
    && mkdir -p /data /docs \
    && chown ragbot:ragbot /data
USER ragbot

# Documents are mounted read-only at /docs; the index (and the bot's dedup/feedback files) live on /data.
ENV DOCS_DIR=/docs \
    LANCEDB_URI=/data/index \
    HOST=0.0.0.0 \
    PORT=3000
VOLUME ["/data"]
EXPOSE 3000

# /healthz answers in both modes (Socket Mode runs a small health server on PORT).
HEALTHCHECK --interval=30s --timeout=5s --start-period=180s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]

CMD ["python", "-m", "bot"]
