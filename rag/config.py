"""Settings for the RAG core, read once from the environment / `.env`.

Every value has a sensible default so `ragbot ask` works on the bundled sample
corpus with no configuration; a bad value fails at start with a message naming
the environment variable, never deep inside a request.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from rag.config_llm import LlmSettings, check_web_url

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


class ConfigError(Exception):
    """A configuration value is missing or invalid; the message names the variable."""


class RagSettings(LlmSettings):
    """Every RAG setting: the model's (rag/config_llm.py) and the documents', index's, retrieval's, sync's."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Documents
    docs_dir: Path = Field(Path("examples/docs"), alias="DOCS_DIR")
    docs_base_url: str | None = Field(None, alias="DOCS_BASE_URL")
    include_globs: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["**/*.md", "**/*.markdown", "**/*.txt", "**/*.pdf", "**/*.docx",
                                 "**/*.html", "**/*.htm", "**/*.xlsx", "**/*.pptx"],
        alias="INCLUDE_GLOBS",
    )
    exclude_globs: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["**/.*", "**/~$*"], alias="EXCLUDE_GLOBS"
    )
    max_file_mb: float = Field(25.0, alias="MAX_FILE_MB", gt=0)
    # What one file may cost to read (rag/ingest/documents/limits.py): a file over one is skipped with the setting named
    max_unzipped_mb: float = Field(100.0, alias="MAX_UNZIPPED_MB", gt=0)  # .docx/.xlsx/.pptx decompressed
    max_zip_entries: int = Field(10_000, alias="MAX_ZIP_ENTRIES", ge=1)
    max_doc_chars: int = Field(5_000_000, alias="MAX_DOC_CHARS", ge=1000)  # extracted text per document
    max_doc_chunks: int = Field(10_000, alias="MAX_DOC_CHUNKS", ge=1)

    # Index
    lancedb_uri: str = Field("data/index", alias="LANCEDB_URI")
    state_dir: Path | None = Field(None, alias="STATE_DIR")
    read_consistency_seconds: float = Field(2.0, alias="READ_CONSISTENCY_SECONDS", ge=0)
    vector_index_min_rows: int = Field(10_000, alias="VECTOR_INDEX_MIN_ROWS", ge=1)

    # Embeddings and chunking
    embedding_model: str = Field(DEFAULT_EMBEDDING_MODEL, alias="EMBEDDING_MODEL")
    embedding_batch_size: int = Field(64, alias="EMBEDDING_BATCH_SIZE", ge=1)
    # rag/ingest/embedding/base.py BACKENDS; auto: bf16 on CPUs with native bf16, fp16 on a GPU
    # (rag/ingest/embedding/choice.py)
    embedding_backend: str = Field("auto", alias="EMBEDDING_BACKEND")
    embedding_device: str = Field("auto", alias="EMBEDDING_DEVICE")  # cpu, cuda, auto
    embedding_cache_dir: Path | None = Field(None, alias="EMBEDDING_CACHE_DIR")  # ONNX exports; default STATE_DIR/onnx
    # Prompts before questions / chunks when the model declares none (rag/ingest/embedding/model_info.py); unset: the
    # model family's default (E5: "query: " / "passage: "); "" for none
    embedding_query_prefix: str | None = Field(None, alias="EMBEDDING_QUERY_PREFIX")
    embedding_passage_prefix: str | None = Field(None, alias="EMBEDDING_PASSAGE_PREFIX")
    # Languages the model reads (en,zh …), when its model card does not say; decides the vector side's trust on CJK
    embedding_languages: Annotated[tuple[str, ...] | None, NoDecode] = Field(None, alias="EMBEDDING_LANGUAGES")
    chunk_tokens: int = Field(180, alias="CHUNK_TOKENS", ge=16)
    chunk_overlap_tokens: int = Field(30, alias="CHUNK_OVERLAP_TOKENS", ge=0)
    # auto: text the embedding model cannot read (CJK, English-only model) is sized in characters (rag/chunking)
    chunk_sizing: Literal["auto", "tokens"] = Field("auto", alias="CHUNK_SIZING")
    chunk_chars: int = Field(400, alias="CHUNK_CHARS", ge=50)

    # Retrieval
    top_k: int = Field(5, alias="TOP_K", ge=1, le=50)
    max_chunks_per_doc: int = Field(3, alias="MAX_CHUNKS_PER_DOC", ge=1)  # bench/quality/README.md
    relevance_floor: float = Field(0.41, alias="RELEVANCE_FLOOR", ge=0, le=1)  # bench/quality/README.md
    retrieval_mode: str = Field("hybrid", alias="RETRIEVAL_MODE")
    # Cross-encoder reranking of the fused shortlist (rag/retrieval/rerank.py); blank = off
    rerank_model: str | None = Field(None, alias="RERANK_MODEL")
    rerank_candidates: int = Field(20, alias="RERANK_CANDIDATES", ge=2, le=100)  # CPU cost grows with it
    # Near-identical passages of several documents take one slot and list them (rag/retrieval/duplicates.py)
    group_duplicates: bool = Field(True, alias="GROUP_DUPLICATES")

    # Sync
    sync_interval_minutes: float | None = Field(30.0, alias="SYNC_INTERVAL_MINUTES", gt=0)  # off: None
    sync_cron: str | None = Field(None, alias="SYNC_CRON")
    mass_delete_fraction: float = Field(0.5, alias="MASS_DELETE_FRACTION", gt=0, le=1)
    keep_versions_hours: float = Field(24.0, alias="KEEP_VERSIONS_HOURS", ge=0)

    # Several replicas (docs/scaling.md): the sync lock (and the bot's shared state) on Redis; blank = one host
    redis_url: str | None = Field(None, alias="REDIS_URL")
    sync_lock_lease_seconds: float = Field(60.0, alias="SYNC_LOCK_LEASE_SECONDS", ge=1, le=3600)

    # Presentation
    stale_after_days: int = Field(365, alias="STALE_AFTER_DAYS", ge=1)

    # Checks shown with each answer (README: what each does)
    figure_check: bool = Field(True, alias="FIGURE_CHECK")  # ⚠ on figures no source holds (rag/answering/figures.py)
    evidence_quotes: bool = Field(True, alias="EVIDENCE_QUOTES")  # each source line quotes its best sentence

    # What the documents could not answer (`ragbot gaps`, rag/index/question_log.py): which question texts are kept
    log_questions: Literal["gaps", "all", "off"] = Field("gaps", alias="LOG_QUESTIONS")
    question_retention_days: float = Field(90.0, alias="QUESTION_RETENTION_DAYS", gt=0)

    # Golden-question gate after each sync that changed something (rag/ops/sync_gate.py); blank = off
    eval_questions: Path | None = Field(None, alias="EVAL_QUESTIONS")
    eval_min_recall: float = Field(0.9, alias="EVAL_MIN_RECALL", ge=0, le=1)
    eval_rollback: bool = Field(False, alias="EVAL_ROLLBACK")

    @field_validator("eval_questions", mode="before")
    @classmethod
    def _eval_file(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        if value is not None and not Path(str(value)).is_file():
            raise ValueError("must be a golden-questions file (JSON Lines, as for `ragbot eval`)")
        return value

    @field_validator("include_globs", "exclude_globs", mode="before")
    @classmethod
    def _split_globs(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("docs_base_url", "sync_cron", "state_dir", "embedding_cache_dir", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("sync_cron")
    @classmethod
    def _sync_cron(cls, value: str | None) -> str | None:
        from rag.ops.cron import check_crontab  # the one rule, APScheduler's own parser (GAPS_DIGEST_CRON too)

        return check_crontab(value) if value is not None else None

    @field_validator("docs_base_url")
    @classmethod
    def _docs_base_url(cls, value: str | None) -> str | None:
        if value is not None:
            check_web_url(value, "where people open the documents, e.g. https://files.example.com/docs "
                                 "(Slack links only web addresses; blank: no links)")
        return value.strip() if value is not None else None

    @field_validator("lancedb_uri")
    @classmethod
    def _index_uri(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be blank: a folder (data/index) or s3://bucket/prefix")
        if "://" not in value and Path(value).is_file():
            raise ValueError("is a file; it must be a folder (data/index) or s3://bucket/prefix")
        return value

    @field_validator("state_dir", "embedding_cache_dir")
    @classmethod
    def _a_folder(cls, value: Path | None) -> Path | None:
        if value is not None and value.is_file():
            raise ValueError("is a file; it must be a folder")
        return value

    @field_validator("sync_interval_minutes", mode="before")
    @classmethod
    def _interval_off(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in {"", "0", "off", "none"}:
            return None
        return value

    @field_validator("log_questions", mode="before")
    @classmethod
    def _log_questions(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip().lower()
            return {"on": "gaps", "true": "gaps", "1": "gaps", "yes": "gaps", "false": "off", "0": "off",
                    "no": "off", "none": "off"}.get(value, value)
        return value

    @field_validator("redis_url", mode="before")
    @classmethod
    def _redis_url(cls, value: object) -> object:
        from rag.ops.locks_redis import check_redis_url  # the one rule for REDIS_URL

        return check_redis_url(value) if isinstance(value, str) else value

    @field_validator("embedding_query_prefix", "embedding_passage_prefix")
    @classmethod
    def _prefix(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 200 or any(not c.isprintable() for c in value)):
            raise ValueError("must be one line of at most 200 printable characters (quote it to keep a trailing "
                             "space, e.g. \"query: \")")
        return value

    @field_validator("embedding_languages", mode="before")
    @classmethod
    def _languages(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()] or None
        if value is not None:
            for tag in value:
                if not re.fullmatch(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*|multilingual", str(tag)):
                    raise ValueError(f"{tag!r} is not a language code: use ISO 639 codes such as en,zh,ja "
                                     "(or multilingual)")
        return value

    @field_validator("embedding_backend", "embedding_device")
    @classmethod
    def _known_backend(cls, value: str, info: object) -> str:
        from rag.ingest.embedding.base import BACKENDS, DEVICES

        allowed = BACKENDS if getattr(info, "field_name", "") == "embedding_backend" else DEVICES
        value = value.strip().lower()
        if value not in allowed:
            raise ValueError("must be one of " + ", ".join(allowed))
        return value

    @field_validator("rerank_model", mode="before")
    @classmethod
    def _rerank_model(cls, value: object) -> object:
        from rag.retrieval.rerank import check_rerank_model  # the one rule for RERANK_MODEL; loads nothing

        return check_rerank_model(value) if isinstance(value, str) else value

    @field_validator("retrieval_mode")
    @classmethod
    def _known_mode(cls, value: str) -> str:
        if value not in {"hybrid", "vector", "fts"}:
            raise ValueError("must be one of hybrid, vector, fts")
        return value

    @model_validator(mode="after")
    def _overlap_below_chunk(self) -> RagSettings:
        if self.chunk_overlap_tokens >= self.chunk_tokens:
            raise ValueError("CHUNK_OVERLAP_TOKENS must be smaller than CHUNK_TOKENS")
        return self

    @property
    def index_is_local(self) -> bool:
        return "://" not in self.lancedb_uri or self.lancedb_uri.startswith("file://")

    @property
    def docs_dir_explicit(self) -> bool:
        """DOCS_DIR was given (env, .env, --docs-dir); otherwise the index's remembered docs root is used."""
        return "docs_dir" in self.model_fields_set

    @property
    def resolved_state_dir(self) -> Path:
        """Where the sync manifest, locks and history live (SQLite needs a local disk)."""
        if self.state_dir is not None:
            return self.state_dir
        if self.index_is_local:
            return Path(self.lancedb_uri.removeprefix("file://")) / "_state"
        return Path(".ragbot")

    @property
    def resolved_embedding_cache_dir(self) -> Path:
        """Where ONNX exports of the embedding model are kept (made once by a sync, read by every question)."""
        return self.embedding_cache_dir or self.resolved_state_dir / "onnx"

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)


def describe_validation_error(err: ValidationError) -> str:
    """Turn pydantic's report into one line per variable, by its environment name."""
    lines = []
    for problem in err.errors():
        loc = problem.get("loc") or ()
        name = str(loc[0]) if loc else "configuration"
        lines.append(f"{name}: {problem_message(problem)}")
    return "; ".join(lines)


def problem_message(problem: Any) -> str:
    """Pydantic's message for one problem, without its "Value error, " prefix (our validators say it all)."""
    return str(problem.get("msg") or "invalid value").removeprefix("Value error, ")


def load_settings(**overrides: object) -> RagSettings:
    """Build settings from env/.env, with CLI overrides (by field name) taking precedence."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        base = RagSettings()
        return base.model_copy(update=clean) if not clean else RagSettings(**_as_aliases(base, clean))
    except ValidationError as err:
        raise ConfigError(f"invalid configuration: {describe_validation_error(err)}") from None


def _as_aliases(base: RagSettings, overrides: dict[str, object]) -> dict[str, object]:
    values: dict[str, object] = {}
    for name, field in RagSettings.model_fields.items():
        if name in overrides or name in base.model_fields_set:  # so `model_fields_set` stays what was given
            values[field.alias or name] = overrides.get(name, getattr(base, name))
    return values
