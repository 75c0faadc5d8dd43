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
  - two independently written confidentiality clauses (保密條款): 0.02 / 0.00;
  - the highest pair of chunks of different documents in ../shared/eval: 0.51, PolicyQA's Safe Harbor
    clause in two policies, one chunk holding another paragraph too (the nearest DRCD pair: 0.08).
At 0.7 a grouped copy holds at most ~18% text its representative lacks (the share outside the
intersection at equal sizes: 1 - 2J/(1+J)), so the model loses little by seeing one copy; at 0.5 the
Safe Harbor chunk's second paragraph would be hidden from it.

When the question names a document (its title or file name: the one rule, `title_match` in
rag/retrieve.py), that document's copy represents the group and is *the* source; the others are
listed as "also in".
"""

from __future__ import annotations

import re
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
# A chosen passage's copies are looked for among all ~130 fused candidates (they do not rank together: on the
# twlaw set, copies sat anywhere down to rank 140). Normalising and shingling all of them took 80 ms on this
# busy machine, more than the rest of retrieval, so a candidate is shingled only when its lower-cased text,
# spaces collapsed, holds at least half of up to 8 evenly spaced 12-character pieces of the chosen passage
# (pieces without punctuation, so only spacing and case need to agree). A copy at resemblance >= 0.7 lacks
# at most 30% of the chosen text's shingles, so it keeps most pieces. Measured (pairs of a top-5 passage and
# a later candidate, 40 questions each): PolicyQA non-copies holding 3+ of 8 pieces 264 of 23,700, 4+ 34;
# twlaw copies (135) all hold half or more, some only 1 of 2 or 2 of 3 pieces (short articles).
ANCHORS, ANCHOR_CHARS = 8, 12
_NOT_ALNUM = re.compile(r"[\W_]+")
_NOT_ALNUM_ASCII = re.compile(r"[^0-9a-z]+")
_WORDS = re.compile(r"[^\W_]+(?: [^\W_]+)*")  # letters and digits, single spaces between them
# Characters that rag.textnorm changes *inside* runs of letters and digits: compatibility ideographs, full-width
# letters and digits, half-width kana, ligatures, invisible characters. A candidate without any is compared
# with the anchors as it is: NFKC of a whole Chinese passage (for its full-width punctuation, which no anchor
# holds) cost more than all the rest. One this misses (a superscript, a circled digit) only loses anchors.
_CHANGED_IN_WORDS = re.compile("[\u00ad\u200b-\u200d\u2060\ufeff\u2f00-\u2fdf\u3200-\u33ff\uf900-\ufaff"
                               "\ufb00-\ufb4f\uff10-\uff19\uff21-\uff3a\uff41-\uff5a\uff66-\uff9f\U0002f800-\U0002fa1f]")


def plain_text(text: str) -> str:
    """`text` normalised (rag.textnorm), lower-cased, letters and digits only: what shingles are cut from."""
    if text.isascii():  # nothing to normalise; the narrower pattern is faster
        return _NOT_ALNUM_ASCII.sub("", text.lower())
    return _NOT_ALNUM.sub("", normalize(text).lower())


def _shingles(plain: str, size: int = SHINGLE_CHARS) -> frozenset[str]:
    if len(plain) <= size:
        return frozenset((plain,)) if plain else frozenset()
    return frozenset(plain[i:i + size] for i in range(len(plain) - size + 1))


def shingles(text: str, size: int = SHINGLE_CHARS) -> frozenset[str]:
    """The set of `size`-character pieces of `text`'s letters and digits, normalised and lower-cased."""
    return _shingles(plain_text(text), size)


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


def same_figures(a: str, b: str) -> bool:
    """Whether two passages state the same figures, read only in the sentences they do not share (faster)."""
    from rag.evidence import split_sentences  # imports rag.retrieve, which imports this module

    keys_a = {plain_text(x): x for x in split_sentences(a)}
    keys_b = {plain_text(x): x for x in split_sentences(b)}
    only_a = "\n".join(x for k, x in keys_a.items() if k not in keys_b)
    only_b = "\n".join(x for k, x in keys_b.items() if k not in keys_a)
    return figure_values(only_a) == figure_values(only_b)


class _Text:
    """One candidate's text; its normalised forms and shingles made only when a comparison needs them."""

    __slots__ = ("_lowered", "_plain", "_shingles", "anchors", "needed", "raw", "size")

    def __init__(self, raw: str) -> None:
        self.raw, self.size = raw, len(raw)
        self._lowered: str | None = None
        self._plain: str | None = None
        self._shingles: frozenset[str] | None = None
        self.anchors: tuple[str, ...] = ()  # set by `choose`, for the chosen passages only
        self.needed = 0

    @property
    def lowered(self) -> str:
        """Lower-cased, spaces collapsed; normalised only when that changes letters or digits (a quick check)."""
        if self._lowered is None:
            raw = normalize(self.raw) if _CHANGED_IN_WORDS.search(self.raw) else self.raw
            self._lowered = " ".join(raw.lower().split())
        return self._lowered

    @property
    def shingles(self) -> frozenset[str]:
        if self._shingles is None:
            self._plain = self._plain or plain_text(self.raw)
            self._shingles = _shingles(self._plain)
        return self._shingles

    def choose(self) -> _Text:
        """Made a group's passage: cut the pieces other candidates are first checked against."""
        pieces = [run[i:i + ANCHOR_CHARS] for run in _WORDS.findall(self.lowered)
                  for i in range(0, len(run) - ANCHOR_CHARS + 1, ANCHOR_CHARS)]
        self.anchors = tuple(pieces[::max(1, len(pieces) // ANCHORS)][:ANCHORS])
        self.needed = (len(self.anchors) + 1) // 2
        return self

    def copy_of(self, chosen: Sequence[_Text], threshold: float) -> int | None:
        """The index of the chosen passage this one is a copy of: near-identical words, the same figures.

        The loop is the hot path of grouping (every candidate against every chosen passage): cheap tests first.
        """
        lowered = None
        for i, other in enumerate(chosen):
            if self.raw == other.raw:
                return i if self.raw.strip() else None
            if self.size < 0.5 * other.size or other.size < 0.5 * self.size:  # generous: spacing may differ
                continue
            if lowered is None:
                lowered = self.lowered
            if (sum(map(lowered.__contains__, other.anchors)) >= other.needed
                    and near_duplicates(self.shingles, other.shingles, threshold)
                    and same_figures(self.raw, other.raw)):
                return i
        return None


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
    chosen: list[_Text] = []
    per: dict[str, int] = {}
    for cand in candidates:
        text = _Text(str(cand.row.get("text") or ""))
        home = text.copy_of(chosen, threshold)
        if home is not None:
            if all(c.doc_path != cand.doc_path for c in groups[home]):
                groups[home].append(cand)
            continue  # a copy of a chosen passage (one already in its document, too): no slot of its own
        if len(groups) >= top_k or per.get(cand.doc_path, 0) >= per_doc:
            continue
        groups.append([cand])
        chosen.append(text.choose())
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
