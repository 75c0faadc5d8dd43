"""Boilerplate shared by many documents: near-identical passages take one slot and say where else they are.

Contracts, policies and regulations repeat standard clauses almost word for word (confidentiality,
governing law, 個人資料保護). Retrieved one by one, five copies of one clause fill the top five: the
model sees one passage five times, distinct passages never reach it, and the answer cites one copy
as if it were *the* source. Here copies from different documents become one group: the best copy
takes the slot and carries the others, so the answer can say "appears in 5 documents: …".

The measure is Broder's resemblance (Jaccard similarity) of character 5-shingles over the text in
its searched form (rag.language.textnorm, lower-cased, letters and digits only), which works alike for
Chinese, where there are no spaces, and English, where line wraps and punctuation must not count.
Two passages are one text at resemblance >= `NEAR_DUPLICATE` (0.7) *and* the same figures (rag/answering/figures.py:
a clause that lasts three years in one contract and five in another is two clauses; resemblance 0.91).
Measured (tests/test_duplicates.py's clauses, printed by bench/bench_duplicates.py):
  - one clause, other party names (Acme → Globex; 甲方華新公司 → 甲方東亞公司): 0.80 / 0.92;
  - the same clause with one sentence added: 0.85 / 0.83;
  - two independently written confidentiality clauses (保密條款): 0.02 / 0.00;
  - the highest pair of chunks of different documents in ../shared/eval: 0.51, PolicyQA's Safe Harbor
    clause in two policies, one chunk holding another paragraph too (the nearest DRCD pair: 0.08).
At 0.7 a grouped copy holds at most ~18% text its representative lacks (the share outside the
intersection at equal sizes: 1 - 2J/(1+J)), so the model loses little by seeing one copy; at 0.5 the
Safe Harbor chunk's second paragraph would be hidden from it.

When the question names a document (its title or file name: the one rule, `title_match` in
rag/retrieval/retrieve.py), that document's copy represents the group and is *the* source; the others are
listed as "also in".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from rag.retrieval.near_copies import (  # noqa: F401  (the names tests and benches import from here)
    NEAR_DUPLICATE,
    Passage,
    figure_values,
    near_duplicates,
    resemblance,
    same_figures,
)
from rag.retrieval.shingles import MIN_AGREEING, SKETCH_BYTES, SKETCH_COLUMN, SKETCH_HASHES, agreeing, shingles  # noqa: F401
from rag.values import Citation, DocumentRef, SharedText

if TYPE_CHECKING:
    from rag.retrieval.candidates import Candidate

MAX_LISTED = 5  # documents named where a shared text is shown; the rest are counted ("and 3 more")
RowFetch = Callable[[Iterable[dict[str, Any]]], set[str]]  # ChunkStore.complete_rows: the chunk ids found gone


class _Sketches:
    """The candidates' MinHash sketches (rag/retrieval/shingles.py): which pairs may be copies, and their texts on
    demand.

    A pair is compared on its text only when the sketches agree at MIN_AGREEING positions or more, or one of
    them has none (a chunk indexed before sketches). Texts are fetched in one take for every candidate that
    may be a copy of a chosen passage so far (`fetch`), not one by one; without `fetch`, rows read their own.
    """

    def __init__(self, candidates: Sequence[Candidate], fetch: RowFetch | None, raw: Sequence[Any]) -> None:
        import numpy as np

        self.rows = [c.row for c in candidates]
        self.known = np.array([isinstance(b, bytes) and len(b) == SKETCH_BYTES for b in raw], dtype=bool)
        blank = b"\0" * SKETCH_BYTES
        self.matrix = np.frombuffer(b"".join(b if ok else blank for b, ok in zip(raw, self.known, strict=True)),
                                    dtype="<u2").reshape(len(raw), SKETCH_HASHES)
        self.fetch = fetch
        self.loaded = np.zeros(len(raw), dtype=bool) if fetch is not None else np.ones(len(raw), dtype=bool)
        self.suspect: list[Any] = []  # per chosen passage: which candidates may be copies of it (bool per candidate)

    def choose(self, i: int) -> None:
        if self.known[i]:
            self.suspect.append(~self.known | (agreeing(self.matrix, self.matrix[i]) >= MIN_AGREEING))
        else:
            import numpy as np

            self.suspect.append(np.ones(len(self.rows), dtype=bool))

    def may_copy(self, i: int, chosen: int) -> bool:
        return bool(self.suspect[chosen][i])

    def need(self, i: int, chosen_rows: Sequence[int]) -> None:
        """Candidate `i` and the chosen passages are about to be compared: make sure their texts are here."""
        if self.loaded[i] and all(self.loaded[c] for c in chosen_rows):
            return
        import numpy as np

        wanted = np.zeros(len(self.rows), dtype=bool)
        wanted[i] = True
        wanted[list(chosen_rows)] = True
        later = np.zeros(len(self.rows), dtype=bool)
        later[i:] = True
        for mask in self.suspect:  # everyone that may still need a comparison with a passage chosen so far
            wanted |= mask & later
        wanted &= ~self.loaded
        assert self.fetch is not None
        self.fetch(self.rows[k] for k in np.flatnonzero(wanted))
        self.loaded |= wanted


def take_sketches(candidates: Sequence[Candidate]) -> list[bytes | None]:
    """The candidates' sketches, taken out of their rows (no caller reads them: rows stay as a whole-rows search
    returns them). A row without one (whole rows, an index from before sketches) gives None; it is no
    ROW_COLUMN, so asking fetches nothing."""
    return [c.row.pop(SKETCH_COLUMN, None) for c in candidates]


def group_duplicates(
    candidates: Sequence[Candidate],
    top_k: int,
    per_doc: int,
    title_score: Callable[[dict[str, Any]], float],
    *,
    threshold: float = NEAR_DUPLICATE,
    fetch: RowFetch | None = None,
    sketches: Sequence[bytes | None] | None = None,
) -> list[Candidate]:
    """The top-k like `cap_per_document`, but near-identical passages of different documents take one slot.

    Each group is represented by the copy of the document the question names (highest `title_score`),
    else its best-ranked copy; the other copies are its `duplicates`, best first. After the k slots are
    filled the remaining candidates are still read, only to find more copies of the chosen passages.
    Candidates' sketches (`take_sketches`, unless given) rule out most pairs unread; `fetch`
    (ChunkStore.complete_rows) brings the texts the others need, in one take. Without it, each row reads
    its text itself (every row, in one take).
    """
    groups: list[list[Candidate]] = []
    chosen: list[int] = []  # candidate positions of the groups' first passages
    texts = [Passage(c.row) for c in candidates]
    sketches = _Sketches(candidates, fetch, take_sketches(candidates) if sketches is None else sketches)
    per: dict[str, int] = {}
    for i, cand in enumerate(candidates):
        home = None
        for g, c in enumerate(chosen):
            if not sketches.may_copy(i, g):
                continue  # the sketches rule it out: its text is never read
            sketches.need(i, chosen)
            if texts[i].copy_of(texts[c], threshold):
                home = g
                break
        if home is not None:
            if all(c.doc_path != cand.doc_path for c in groups[home]):
                groups[home].append(cand)
            continue  # a copy of a chosen passage (one already in its document, too): no slot of its own
        if len(groups) >= top_k or per.get(cand.doc_path, 0) >= per_doc:
            continue
        groups.append([cand])
        chosen.append(i)
        sketches.choose(i)
        per[cand.doc_path] = per.get(cand.doc_path, 0) + 1
    return [_represent(group, title_score) for group in groups]


def group_candidates(
    candidates: Sequence[Candidate],
    fetch: RowFetch,
    top_k: int,
    per_doc: int,
    title_score: Callable[[dict[str, Any]], float],
) -> tuple[list[Candidate], list[Candidate]]:
    """Retrieval's grouping: (the top-k groups, the candidates still in the index).

    Only the texts a comparison needs are fetched, then the kept groups' rows (what the answer cites and
    lists) in one take, as without grouping. A chunk a sync deleted since the search is left out and the
    groups made again (rare).
    """
    candidates = list(candidates)
    sketches = take_sketches(candidates)
    gone: set[str] = set()

    def fetch_and_note(rows: Iterable[dict[str, Any]]) -> set[str]:
        found = fetch(rows)
        gone.update(found)
        return found

    while True:
        gone.clear()
        groups = group_duplicates(candidates, top_k, per_doc, title_score, fetch=fetch_and_note, sketches=sketches)
        if not gone:
            fetch_and_note(row for g in groups for row in (g.row, *(d.row for d in g.duplicates)))
        if not gone:
            return groups, candidates
        kept = [i for i, c in enumerate(candidates) if c.row["chunk_id"] not in gone]
        candidates, sketches = [candidates[i] for i in kept], [sketches[i] for i in kept]


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

    Places are matched the way rag/answering/citations.py merges chunks into places: by section and pages.
    """
    from rag.answering.citations import row_pages

    shared = {}
    for hit in hits:
        note = shared_text(hit)
        if note is not None and hit.doc_path == citation.rel_path:
            shared.setdefault((str(hit.row.get("section") or ""), row_pages([hit.row])), note)
    if not shared:
        return citation
    return replace(citation, passages=tuple(
        replace(p, shared=shared.get((p.section, p.pages), p.shared)) for p in citation.passages))
