"""Whether the embedding model can read a text: one rule, used by retrieval and by chunking.

An English-only model (the default all-MiniLM-L6-v2) sees Chinese as one token per
character and places Chinese text almost at random (vector-only doc recall@5 on
DRCD 38.5% vs full-text 99%). So on a CJK question its vote is only a tie-breaker
(`rag.retrieval.retrieve.retriever_weights`), and a CJK section is sized for full-text search
and for the reader rather than for the model's window (`rag.ingest.chunking`). A text is
CJK when more than `CJK_SHARE` of its letters and digits are CJK characters.
Whether the model reads CJK at all comes from its languages (`rag.ingest.embeddings.is_multilingual`).
"""

from __future__ import annotations

from rag.language.cjk import cjk_share

CJK_SHARE = 0.3


def model_can_read(text: str, model_reads_cjk: bool) -> bool:
    """True when the embedding model can read `text`: all of it when the model reads CJK
    (`rag.ingest.embeddings.is_multilingual`: its card's languages), else what is not mostly CJK."""
    return model_reads_cjk or cjk_share(text) <= CJK_SHARE
