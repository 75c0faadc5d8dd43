"""Boilerplate shared by many documents: near-identical passages take one slot and say where else they are.

Contracts, policies and regulations repeat standard clauses almost word for word (confidentiality,
governing law, 個人資料保護). Retrieved one by one, five copies of one clause fill the top five: the
model sees one passage five times, distinct passages never reach it, and the answer cites one copy
as if it were *the* source. Here copies from different documents become one group: the best copy
takes the slot and carries the others, so the answer can say "appears in 5 documents: …".

The measure is Broder's resemblance (Jaccard similarity) of character 5-shingles over the text in
its searched form (rag.textnorm, lower-cased, letters and digits only), which works alike for
Chinese, where there are no spaces, and English, where line wraps and punctuation must not count.
Two passages are one text at resemblance >= `NEAR_DUPLICATE` (0.7) *and* the same figures (rag/figures.py:
a clause that lasts three years in one contract and five in another is two clauses; resemblance 0.91).
Measured (tests/test_duplicates.py's clauses, printed by bench/bench_duplicates.py):
  - one clause, other party names (Acme → Globex; 甲方華新公司 → 甲方東亞公司): 0.80 / 0.92;
  - the same clause with one sentence added: 0.85 / 0.83;
  - two independently written clauses on one subject (confidentiality, governing law, 保密): 0.00-0.06;
  - the highest pair across documents in ../shared/eval: 0.51, PolicyQA's Safe Harbor clause in two
    policies, one chunk holding another paragraph too (the nearest DRCD pair: under 0.2).
At 0.7 a grouped copy holds at most ~18% text its representative lacks (the share outside the
intersection at equal sizes: 1 - 2J/(1+J)), so the model loses little by seeing one copy; at 0.5 the
Safe Harbor chunk's second paragraph would be hidden from it.

When the question names a document (its title or file name: the one rule, `title_match` in
rag/retrieve.py), that document's copy represents the group and is *the* source; the others are
listed as "also in".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from rag.answer import Citation, DocumentRef, SharedText
from rag.textnorm import normalize

if TYPE_CHECKING:
    from rag.retrieve import Candidate

SHINGLE_CHARS = 5
NEAR_DUPLICATE = 0.7  # resemblance at or above which two passages are one text (see the module docstring)
MAX_LISTED = 5  # documents named where a shared text is shown; the rest are counted ("and 3 more")


def shingles(text: str, size: int = SHINGLE_CHARS) -> frozenset[str]:
    """The set of `size`-character pieces of `text`'s letters and digits, normalised and lower-cased."""
    plain = "".join(ch for ch in normalize(text).lower() if ch.isalnum())
    if len(plain) <= size:
        return frozenset((plain,)) if plain else frozenset()
    return frozenset(plain[i:i + size] for i in range(len(plain) - size + 1))


def resemblance(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard similarity |a ∩ b| / |a ∪ b|; 0 when either is empty."""
    if not a or not b:
        return 0.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


def near_duplicates(a: frozenset[str], b: frozenset[str], threshold: float = NEAR_DUPLICATE) -> bool:
    """Resemblance at least `threshold`; sets whose sizes differ more than that cannot reach it, unread."""
    small, large = sorted((len(a), len(b)))
    return small >= threshold * large and resemblance(a, b) >= threshold


def figure_values(text: str) -> frozenset[tuple[object, object]]:
    """The figures a passage states (30 days, NT$3,200, 2026-03-02), as values: rag/figures.py's one reading."""
    from rag.figures import extract_figures  # rag.figures imports rag.retrieve, which imports this module

    return frozenset((f.value, f.unit) for f in extract_figures(text))


def group_duplicates(
    candidates: Sequence[Candidate],
    top_k: int,
    per_doc: int,
    title_score: Callable[[dict[str, Any]], float],
    *,
    threshold: float = NEAR_DUPLICATE,
) -> list[Candidate]:
    """The top-k like `cap_per_document`, but near-identical passages of different documents take one slot.

    Each group is represented by the copy of the document the question names (highest `title_score`),
    else its best-ranked copy; the other copies are its `duplicates`, best first. After the k slots are
    filled the remaining candidates are still read, only to find more copies of the chosen passages.
    """
    groups: list[list[Candidate]] = []
    signatures: list[frozenset[str]] = []
    per: dict[str, int] = {}
    figures: dict[int, frozenset[tuple[object, object]]] = {}  # by id(candidate), computed only when needed

    def same_figures(a: Candidate, b: Candidate) -> bool:
        for cand in (a, b):
            if id(cand) not in figures:
                figures[id(cand)] = figure_values(str(cand.row.get("text") or ""))
        return figures[id(a)] == figures[id(b)]

    for cand in candidates:
        sig = shingles(str(cand.row.get("text") or ""))
        home = next((i for i, other in enumerate(signatures)
                     if near_duplicates(sig, other, threshold) and same_figures(cand, groups[i][0])), None)
        if home is not None:
            if all(c.doc_path != cand.doc_path for c in groups[home]):
                groups[home].append(cand)
            continue  # a copy of a chosen passage (one already in its document, too): no slot of its own
        if len(groups) >= top_k or per.get(cand.doc_path, 0) >= per_doc:
            continue
        groups.append([cand])
        signatures.append(sig)
        per[cand.doc_path] = per.get(cand.doc_path, 0) + 1
    return [_represent(group, title_score) for group in groups]


def _represent(group: list[Candidate], title_score: Callable[[dict[str, Any]], float]) -> Candidate:
    """The group's copy to cite, holding the others; `named` when the question names its document alone."""
    if len(group) == 1:
        group[0].duplicates, group[0].named = [], False
        return group[0]
    scores = [title_score(c.row) for c in group]
    best = max(range(len(group)), key=lambda i: (scores[i], -i))
    rep = group[best]
    rep.duplicates = [c for i, c in enumerate(group) if i != best]
    rep.named = scores[best] > max(s for i, s in enumerate(scores) if i != best)
    return rep


def capped(names: Sequence[str], limit: int = MAX_LISTED) -> tuple[list[str], int]:
    """The first `limit` names, and how many more there are: one cap for the prompt, Slack and the CLI."""
    return list(names[:limit]), max(0, len(names) - limit)


def shared_text(hit: Candidate) -> SharedText | None:
    """What a grouped hit tells the reader: the other documents holding its text."""
    if not hit.duplicates:
        return None
    docs = tuple(DocumentRef(title=str(c.row.get("title") or c.doc_path), rel_path=c.doc_path,
                             link=str(c.row.get("link") or "")) for c in hit.duplicates)
    return SharedText(documents=docs, named=hit.named)


def with_shared(citation: Citation, hits: Sequence[Candidate]) -> Citation:
    """`citation` with each place it cites marked with the other documents that hold the same text.

    Places are matched the way rag/citations.py merges chunks into places: by section and pages.
    """
    from rag.citations import row_pages

    shared = {}
    for hit in hits:
        note = shared_text(hit)
        if note is not None and hit.doc_path == citation.rel_path:
            shared.setdefault((str(hit.row.get("section") or ""), row_pages([hit.row])), note)
    if not shared:
        return citation
    return replace(citation, passages=tuple(
        replace(p, shared=shared.get((p.section, p.pages), p.shared)) for p in citation.passages))
