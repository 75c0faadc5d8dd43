"""Which document a question names, and that document's passages ranked by what is asked of it.

"In the privacy policy of acme.com: how long do you keep my data?" and 「依勞工請假規則，父母過世可以請幾天假？」
name their document in a clause of their own. The embedding sees titles (embedded with each chunk), full-text
search does not: the named document's chunks get a boost (`boost_named_documents`). Then the per-document cap,
there to show several documents, would keep the passage that answers out of the prompt, and the name, in every
passage's title, says nothing about which passage answers: `focus_named_document` gives the named document the
slots and ranks its passages by the question less its naming clause. Measured in bench/quality/README.md
(issue 19): PolicyQA dev scoped passage R@5 51.5 -> 64.5, twlaw 91.5 -> 96.0, DRCD unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.index.store import ChunkStore
from rag.index.store.schema import sql_str
from rag.retrieval.query import query_terms, text_query
from rag.retrieval.relevance import term_coverage

if TYPE_CHECKING:
    from rag.retrieval.candidates import Candidate

NAMED_MIN = 0.2  # share of the question's terms in one document's title or path for it to be named
NAMED_MARGIN = 0.1  # ... and that far ahead of every other candidate document's
NAMING_CLAUSE = 0.5  # share of one clause's terms in the title: that clause names the document
OTHER_SLOTS = 1  # slots kept for other documents ranked above the named one
_CLAUSES = re.compile(r"[^:：，,;；]+[:：，,;；]?")


def title_match(row: dict[str, Any], terms: list[str]) -> float:
    """How far the question names this chunk's document: the share of its terms in the title or path."""
    return term_coverage(terms, f"{row.get('title') or ''}\n{row.get('doc_path') or ''}")


def boost_named_documents(candidates: list[Candidate], terms: list[str], weight: float,
                          question: str | None = None) -> list[Candidate]:
    """Raise chunks of documents whose title or path contains the question's terms, re-sorted.

    "What does the travel policy say about hotels?" names its document; the embedding sees titles
    (they are embedded with each chunk) but full-text search does not, so without this the
    full-text side pulls other documents up. Given the `question`, only a document one of its clauses
    names (NAMING_CLAUSE of the clause's terms in its title) is raised: a Chinese question sharing one
    word with many titles (保險, 勞工) raised the wrong ones (paraphrased twlaw questions: doc R@5 96.2
    without the boost, 88.5 with it on every title).
    """
    if not terms or weight <= 0:
        return candidates
    clauses = [t for t in (query_terms(c) for c in _CLAUSES.findall(question)) if t] if question else []
    named: dict[str, bool] = {}
    shares: dict[str, float] = {}  # per document: its chunks share title and path (~160 candidates, ~1 ms)
    for cand in candidates:
        if cand.doc_path not in shares:
            shares[cand.doc_path] = title_match(cand.row, terms)
        share = shares[cand.doc_path]
        if share and clauses:
            if cand.doc_path not in named:
                named[cand.doc_path] = any(title_match(cand.row, c) >= NAMING_CLAUSE for c in clauses)
            share = share if named[cand.doc_path] else 0.0
        cand.fused += weight * share
    return sorted(candidates, key=lambda c: c.fused, reverse=True)


def named_document(candidates: list[Candidate], terms: list[str], question: str | None = None) -> str | None:
    """The one document the question names by its title or file name ("In the privacy policy of acme.com: …",
    「依勞工請假規則，…」), or None: its title holds NAMED_MIN of the question's terms, NAMED_MARGIN more than
    any other candidate document's, and (given the `question`) one clause of the question is mostly its name
    (NAMING_CLAUSE of that clause's terms): a situational question that only shares a word with a title
    (我因為生病失能… and 勞工保險失能給付標準) names nothing."""
    shares: dict[str, tuple[float, dict[str, Any]]] = {}
    for cand in candidates:
        if cand.doc_path not in shares:
            shares[cand.doc_path] = (title_match(cand.row, terms), cand.row)
    if not shares:
        return None
    ranked = sorted(shares.items(), key=lambda kv: kv[1][0], reverse=True)
    best, (share, row) = ranked[0]
    if share < NAMED_MIN or (len(ranked) > 1 and share - ranked[1][1][0] < NAMED_MARGIN):
        return None
    if question is not None and not any(title_match(row, query_terms(c)) >= NAMING_CLAUSE
                                        for c in _CLAUSES.findall(question) if query_terms(c)):
        return None
    return best


def without_naming(question: str, row: dict[str, Any]) -> str:
    """The question less the clause that names its document ("In the privacy policy of acme.com:", 「依X辦法，」):
    what it asks *of* the document. Unchanged when no such clause leaves a question behind."""
    clauses = _CLAUSES.findall(question)
    if len(clauses) < 2:
        return question
    naming = max(range(len(clauses)), key=lambda i: (title_match(row, query_terms(clauses[i])), -i))
    if not title_match(row, query_terms(clauses[naming])):
        return question
    rest = "".join(c for i, c in enumerate(clauses) if i != naming).strip()
    return rest if len(query_terms(rest)) >= 2 else question


def focus_named_document(
    top: list[Candidate], fused: list[Candidate], question: str, terms: list[str], store: ChunkStore,
    embed_query: Callable[[str], np.ndarray], trust_vectors: bool, columns: Any,
) -> list[Candidate]:
    """When the question names one document, its passages take the slots, best passage first.

    The asker said which document; the per-document cap (there to show several documents) then keeps the
    passage that answers out of the prompt (PolicyQA with the site named: the answer's chunk among the 5 given
    to the model for half the questions). The named document's passages are ranked again by what the question
    asks of it, the question less its naming clause (`without_naming`): the name is in every passage's title
    and says nothing about which passage answers. Embedded when the model reads the question (one more
    embedding, one vector search within the document), else by full-text search within the document.
    A document that retrieval ranks above the named one keeps its slot (OTHER_SLOTS).
    """
    named = named_document(fused, terms, question)
    if named is None:
        return top
    home = next(c for c in fused if c.doc_path == named)
    asked = without_naming(question, home.row)
    where = f"doc_path = {sql_str(named)}"
    if trust_vectors:
        hits = store.search_vector(embed_query(asked), 50, where, columns)
    else:
        fts = text_query(asked)
        hits = store.search_text(fts.text, 50, where, fts.phrases, columns)
    if not hits:
        return top
    known = {c.row["chunk_id"]: c for c in fused}
    absorbed = {d.row["chunk_id"] for c in top for d in c.duplicates}  # copies a grouped slot already stands for
    passages = []
    for hit in hits:
        cand = known.get(hit.row["chunk_id"]) or type(home)(row=hit.row)  # a Candidate, without an import circle
        if trust_vectors and cand.vector_score is None:  # the floor reads the whole question's cosine where known
            cand.vector_score = hit.score
        if cand.row["chunk_id"] not in absorbed:
            passages.append(cand)
    gone = store.complete_rows(c.row for c in passages[:len(top)])
    queue = iter(c for c in passages if c.row["chunk_id"] not in gone)
    # When retrieval itself ranks another document first, it keeps its rank (the name may be a passing mention);
    # every other slot is the named document's. Ranks are kept, so the first k of a deeper list are the k the
    # bot shows (`ragbot eval` asks for 10 and scores the first 5).
    others = [c for c in top if c.doc_path != named][:OTHER_SLOTS] if top and top[0].doc_path != named else []
    kept = {id(c) for c in others}
    spare = iter(c for c in top if c.doc_path != named and id(c) not in kept)
    focused = [c if id(c) in kept else next(queue, None) or next(spare, None) for c in top]
    return [c for c in focused if c is not None]
