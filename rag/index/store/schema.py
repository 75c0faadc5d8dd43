"""What a chunks-table row is, and what an index must have been built with to be searched.

Denormalising title/kind/link/modified into every row means retrieval needs no other
table. The schema metadata records which embedding model (and dimension), backend and
text normalisation built the index, so an index is never queried with another model's
vectors.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC
from typing import Any

import numpy as np
import pyarrow as pa

from rag.language.textnorm import TEXT_NORMALIZATION, normalize
from rag.retrieval.shingles import SKETCH_BYTES, SKETCH_COLUMN, SKETCH_VERSION, sketch

log = logging.getLogger(__name__)

TABLE = "chunks"
SCHEMA_VERSION = "1"
# The query/passage prompts the vectors were embedded with (rag.ingest.embedding.model_info.Prompts.record);
# an index from before prompts were recorded had none.
NO_PROMPTS = json.dumps({"query": "", "passage": ""}, ensure_ascii=False, sort_keys=True)
# Every column a caller reads from a hit (answers cite section/page/date/link; the ledger the document hash).
ROW_COLUMNS = (
    "chunk_id", "doc_path", "title", "kind", "format", "link", "modified", "doc_sha256", "section",
    "page_start", "page_end", "start_char", "end_char", "ordinal", "text", "embed_hash",
)


class StoreError(Exception):
    """The index cannot be used as asked; the message tells the user what to run."""


class IndexModelMismatch(StoreError):
    pass


class IndexMissing(StoreError):
    pass


class IndexOutdated(IndexModelMismatch):
    """Built by an older text normalisation: still searchable, rebuilt by `ragbot sync --full`."""


def chunk_schema(dim: int, model_name: str, backend: str = "torch", vector_space: str = "fp32",
                 prompts: str = NO_PROMPTS) -> pa.Schema:
    return pa.schema(
        [
            pa.field("chunk_id", pa.string(), nullable=False),
            pa.field("doc_path", pa.string(), nullable=False),
            pa.field("title", pa.string()),
            pa.field("kind", pa.string()),
            pa.field("format", pa.string()),
            pa.field("link", pa.string()),
            pa.field("modified", pa.timestamp("us", tz="UTC")),
            pa.field("doc_sha256", pa.string()),
            pa.field("section", pa.string()),
            pa.field("page_start", pa.int32()),
            pa.field("page_end", pa.int32()),
            pa.field("start_char", pa.int64()),
            pa.field("end_char", pa.int64()),
            pa.field("ordinal", pa.int32()),
            pa.field("text", pa.string()),  # as the document says it: what answers show and quote
            pa.field("search_text", pa.string()),  # section + text normalised (rag.language.textnorm): full-text search
            pa.field("embed_hash", pa.string()),
            pa.field("vector", pa.list_(pa.float32(), dim)),
            SKETCH_FIELD,
        ],
        metadata={"embedding_model": model_name, "embedding_dim": str(dim), "schema_version": SCHEMA_VERSION,
                  "embedding_backend": backend, "embedding_vectors": vector_space,
                  "embedding_prompts": prompts, "text_normalization": TEXT_NORMALIZATION},
    )


# The text's MinHash sketch (rag/retrieval/shingles.py), for GROUP_DUPLICATES; added to an index from before it at its
# next write (rows not rewritten since have none, and are compared on their text).
SKETCH_FIELD = pa.field(SKETCH_COLUMN, pa.binary(SKETCH_BYTES), metadata={"sketch": SKETCH_VERSION})


def has_sketches(schema: pa.Schema) -> bool:
    """Whether this table's rows carry sketches of the kind rag/retrieval/shingles.py makes now (else none are
    trusted)."""
    if SKETCH_COLUMN not in schema.names:
        return False
    return (schema.field(SKETCH_COLUMN).metadata or {}).get(b"sketch") == SKETCH_VERSION.encode()


def sql_str(value: str) -> str:
    """Quote a string literal for a LanceDB SQL filter."""
    return "'" + value.replace("'", "''") + "'"


def check_built_with(schema: pa.Schema, *, uri: str, model_name: str, dim: int | None, backend: str,
                     vector_space: str, prompts: str = NO_PROMPTS) -> str | None:
    """Raise `IndexModelMismatch` when this index cannot be searched with our model and backend.

    Returns why it should be rebuilt (an older text normalisation: still searchable, said once in the
    log), or None. `dim` is None when the model is not loaded: an index built by this model name has its size.
    """
    meta = {k.decode(): v.decode() for k, v in (schema.metadata or {}).items()}
    built_with = meta.get("embedding_model")
    built_dim = meta.get("embedding_dim")
    if built_with != model_name or (dim is not None and built_dim != str(dim)):
        raise IndexModelMismatch(
            f"the index at {uri} was built with embedding model {built_with!r} (dim {built_dim}), "
            f"but EMBEDDING_MODEL is {model_name!r}{f' (dim {dim})' if dim else ''}: "
            "set EMBEDDING_MODEL back, or rebuild with `ragbot sync --full`"
        )
    built = meta.get("text_normalization")
    before = "before text normalisation" if built is None else f"with text normalisation {built}"
    outdated = None if built == TEXT_NORMALIZATION else (
        f"the index at {uri} was built {before} (now {TEXT_NORMALIZATION}): questions can miss text "
        "written in other forms (full-width letters, CJK compatibility ideographs); "
        "run `ragbot sync --full` to rebuild it"
    )
    if outdated:
        log.warning("%s", outdated)
    built_space = meta.get("embedding_vectors", "fp32")  # indexes from before backends were torch fp32
    if built_space != vector_space:
        raise IndexModelMismatch(
            f"the index at {uri} was built with EMBEDDING_BACKEND={meta.get('embedding_backend', 'torch')} "
            f"({built_space} vectors), which {backend} ({vector_space} vectors) cannot search: "
            "set EMBEDDING_BACKEND back, or rebuild with `ragbot sync --full`"
        )
    built_prompts = meta.get("embedding_prompts", NO_PROMPTS)
    if built_prompts != prompts:
        raise IndexModelMismatch(
            f"the index at {uri} was embedded with the prompts {built_prompts}, but the model is now given "
            f"{prompts} (EMBEDDING_QUERY_PREFIX/EMBEDDING_PASSAGE_PREFIX or the model's own): set them back, "
            "or rebuild with `ragbot sync --full`"
        )
    return outdated


def to_row(chunk: Any, doc: Any, vector: np.ndarray, embed_hash: str) -> dict[str, Any]:
    """One table row from a chunk and its document (duck-typed to avoid an import cycle)."""
    return {
        "chunk_id": chunk.chunk_id,
        "doc_path": doc.rel_path,
        "title": doc.title,
        "kind": doc.kind,
        "format": doc.format,
        "link": doc.link,
        "modified": doc.modified.astimezone(UTC) if doc.modified.tzinfo else doc.modified.replace(tzinfo=UTC),
        "doc_sha256": doc.sha256,
        "section": chunk.section,
        "page_start": chunk.page_start,
        "page_end": chunk.page_end,
        "start_char": chunk.start,
        "end_char": chunk.end,
        "ordinal": chunk.ordinal,
        "text": chunk.text,
        # The section's headings too: article and clause numbers (第十二條, 4.2 Refunds) are headings.
        "search_text": normalize(f"{chunk.section}\n{chunk.text}" if chunk.section else chunk.text),
        "embed_hash": embed_hash,
        "vector": vector.astype(np.float32).tolist(),
        SKETCH_COLUMN: sketch(chunk.text),
    }
