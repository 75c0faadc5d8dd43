"""Whether two passages are one text: near-identical words (resemblance of 5-shingles) and the same figures.

The rule GROUP_DUPLICATES (rag/retrieval/duplicates.py) groups by, and why its thresholds are what they are, is in
rag/retrieval/duplicates.py's docstring; this module is the comparison itself, cheapest test first.
"""

from __future__ import annotations

import re
from typing import Any

from rag.language.textnorm import normalize
from rag.retrieval.shingles import plain_text, shingle_set

NEAR_DUPLICATE = 0.7  # resemblance at or above which two passages are one text (see rag/retrieval/duplicates.py)
# A chosen passage's copies are looked for among all ~130 fused candidates (they do not rank together: on the
# twlaw set, copies sat anywhere down to rank 140). Each chunk's MinHash sketch (rag/retrieval/shingles.py, made at
# ingest)
# rules out almost every pair before any text is read; the pairs it cannot rule out (near copies, and chunks of an
# index from before sketches) are compared on their text, as follows. Normalising and shingling every candidate took
# 80 ms on this busy machine, so a candidate is shingled only when its lower-cased text,
# spaces collapsed, holds at least half of up to 8 evenly spaced 12-character pieces of the chosen passage
# (pieces without punctuation, so only spacing and case need to agree). A copy at resemblance >= 0.7 lacks
# at most 30% of the chosen text's shingles, so it keeps most pieces. Measured (pairs of a top-5 passage and
# a later candidate, 40 questions each): PolicyQA non-copies holding 3+ of 8 pieces 264 of 23,700, 4+ 34;
# twlaw copies (135) all hold half or more, some only 1 of 2 or 2 of 3 pieces (short articles).
ANCHORS, ANCHOR_CHARS = 8, 12
_WORDS = re.compile(r"[^\W_]+(?: [^\W_]+)*")  # letters and digits, single spaces between them
# Characters that rag.language.textnorm changes *inside* runs of letters and digits: compatibility ideographs, full-
# width
# letters and digits, half-width kana, ligatures, invisible characters. A candidate without any is compared
# with the anchors as it is: NFKC of a whole Chinese passage (for its full-width punctuation, which no anchor
# holds) cost more than all the rest. One this misses (a superscript, a circled digit) only loses anchors.
_CHANGED_IN_WORDS = re.compile("[\u00ad\u200b-\u200d\u2060\ufeff\u2f00-\u2fdf\u3200-\u33ff\uf900-\ufaff"
                               "\ufb00-\ufb4f\uff10-\uff19\uff21-\uff3a\uff41-\uff5a\uff66-\uff9f\U0002f800-\U0002fa1f]")


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
    """The figures a passage states (30 days, NT$3,200, 2026-03-02), as values: rag/answering/figures.py's one
    reading."""
    from rag.answering.figures import (
        extract_figures,  # rag.answering.figures imports rag.retrieval.retrieve, which imports this module
    )

    return frozenset((f.value, f.unit) for f in extract_figures(text))


def same_figures(a: str, b: str) -> bool:
    """Whether two passages state the same figures, read only in the sentences they do not share (faster)."""
    from rag.answering.evidence import split_sentences  # imports rag.retrieval.retrieve, which imports this module

    keys_a = {plain_text(x): x for x in split_sentences(a)}
    keys_b = {plain_text(x): x for x in split_sentences(b)}
    only_a = "\n".join(x for k, x in keys_a.items() if k not in keys_b)
    only_b = "\n".join(x for k, x in keys_b.items() if k not in keys_a)
    return figure_values(only_a) == figure_values(only_b)


class Passage:
    """One candidate's text, read only when a comparison needs it; its normalised forms and shingles likewise."""

    __slots__ = ("_anchors", "_lowered", "_plain", "_raw", "_shingles", "row")

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        self._raw: str | None = None
        self._lowered: str | None = None
        self._plain: str | None = None
        self._shingles: frozenset[str] | None = None
        self._anchors: tuple[tuple[str, ...], int] | None = None

    @property
    def raw(self) -> str:
        if self._raw is None:
            self._raw = str(self.row.get("text") or "")
        return self._raw

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
            self._shingles = shingle_set(self._plain)
        return self._shingles

    @property
    def anchors(self) -> tuple[tuple[str, ...], int]:
        """A chosen passage's pieces other candidates are first checked against, and how many must be found."""
        if self._anchors is None:
            pieces = [run[i:i + ANCHOR_CHARS] for run in _WORDS.findall(self.lowered)
                      for i in range(0, len(run) - ANCHOR_CHARS + 1, ANCHOR_CHARS)]
            anchors = tuple(pieces[::max(1, len(pieces) // ANCHORS)][:ANCHORS])
            self._anchors = anchors, (len(anchors) + 1) // 2
        return self._anchors

    def copy_of(self, other: Passage, threshold: float) -> bool:
        """Whether this passage is a copy of the chosen `other`: near-identical words, the same figures.

        The hot path of grouping (pairs the sketches could not rule out): cheap tests first.
        """
        if self.raw == other.raw:
            return bool(self.raw.strip())
        size, other_size = len(self.raw), len(other.raw)
        if size < 0.5 * other_size or other_size < 0.5 * size:  # generous: spacing may differ
            return False
        anchors, needed = other.anchors
        return (sum(map(self.lowered.__contains__, anchors)) >= needed
                and near_duplicates(self.shingles, other.shingles, threshold)
                and same_figures(self.raw, other.raw))
