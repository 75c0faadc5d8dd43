"""Relevance that means the same across questions: what the floor is applied to and the bot declines by.

Fused scores only rank: they are normalised per question. The floor needs scores that mean the same thing for
every question (cosine similarity, share of the question found in a passage), so a weak best match reads
weak whatever else the index holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag.language.cjk import CJK_RE, CJK_RUN_RE
from rag.language.textnorm import normalize
from rag.retrieval.lexicon import term_spans
from rag.retrieval.query import stop_marks

if TYPE_CHECKING:
    from rag.retrieval.candidates import Candidate


def term_coverage(terms: list[str], text: str) -> float:
    if not terms:
        return 0.0
    lowered = normalize(text).lower()
    return sum(1 for t in terms if t in lowered) / len(terms)


def apply_floor(top: list[Candidate], floor: float) -> tuple[list[Candidate], float, bool]:
    """(hits for the prompt, best relevance, below_floor): the bot declines when even the best is below.

    When it answers, chunks far below the floor (under half of it) are dropped as noise.
    """
    best = max((c.relevance for c in top), default=0.0)
    kept = [c for c in top if c.relevance >= floor * 0.5]
    below = best < floor or not kept
    return ([] if below else kept), best, below


# Characters that carry grammar, not subject (的, 了, 在, 要…): one not found in a passage counts FUNCTION_WEIGHT
# against it (question words count nothing); one found counts in full. Only for coverage: in the full-text query
# they are parts of words (要保人, 會計, 目的). A trade-off, measured at RELEVANCE_FLOOR 0.41 (weight 0 / 0.5 / 1):
# answerable paraphrased questions wrongly declined, twlaw 4.9 / 9.8 / 22.0%, twlabor 13.3 / 24.4 / 28.9% (with
# Wikipedia questions asked of them declined 97-99% at every weight); DRCD questions about removed articles
# declined 69 / 75 / 80%, answerable ones wrongly 2 / 3 / 5%. Telling a user the rules say nothing when they do
# is the costlier mistake (bench/quality/README.md, issue 19).
FUNCTION_CHARS = frozenset("的了在是有要和與或及就都也會能該把被對從到為讓給向跟我你他她它們這那些個嗎呢吧啊")
FUNCTION_WEIGHT = 0.0
COVERAGE_WINDOW_CHARS = 180  # ~ a CHUNK_TOKENS chunk of Chinese text: the size the floor was set on


def question_coverage(question: str, terms: list[str], text: str, *, header: str = "", lexicon: bool = True) -> float:
    """Share of the question found in `text`: its words, and its CJK characters that a matching bigram covers.

    Counting CJK characters rather than bigrams keeps Chinese on the scale of English words, so one
    floor serves both: bigrams that straddle two words (出差住宿 → 差住) match nowhere, which makes
    bigram coverage read low even for the passage that answers the question.
    CJK characters are judged on the best stretch of `COVERAGE_WINDOW_CHARS` of `text` (plus `header`,
    the title and section every stretch belongs to), not on the whole chunk: the floor was calibrated on
    ~180-character Chinese chunks, and a chunk sized in characters (CHUNK_SIZING auto) is two or three
    times longer, which let scattered bigrams of an unrelated article pass it (full DRCD: unanswerable
    questions declined 86% → 71%).
    An everyday word counts as found where its formal equivalent is (`lexicon`, rag/retrieval/lexicon.py: 過世 in the
    question, 喪亡 in the rule).
    """
    text, header = normalize(text), normalize(header)
    lowered = f"{header}\n{text}".lower()
    words = [t for t in terms if not CJK_RE.search(t)]
    words_found = sum(1 for w in words if w in lowered)
    runs = [(run, stop_marks(run), term_spans(run) if lexicon else [])
            for run in CJK_RUN_RE.findall(normalize(question)) if len(run) >= 2]
    best = 0.0
    for window in _windows(text, COVERAGE_WINDOW_CHARS) if runs else [text]:
        found, total = words_found, len(words)
        for run, stop, synonyms in runs:
            covered = [False] * len(run)
            for i in range(len(run) - 1):
                bigram = run[i:i + 2]
                if not (stop[i] and stop[i + 1]) and (bigram in window or bigram in header):
                    covered[i] = covered[i + 1] = True
            for start, end, equivalents in synonyms:
                if any(e in window or e in header for e in equivalents):
                    covered[start:end] = [True] * (end - start)
            for ch, is_covered, is_stop in zip(run, covered, stop, strict=True):
                # characters only a question word ("多少") covers do not count unfound; a grammar character
                # unfound counts FUNCTION_WEIGHT
                if is_covered or not is_stop:
                    total += FUNCTION_WEIGHT if not is_covered and ch in FUNCTION_CHARS else 1
                    found += is_covered
        best = max(best, found / total if total else 0.0)
    return best


def _windows(text: str, size: int) -> list[str]:
    """Overlapping stretches of `size` characters (a quarter apart) covering `text`; short text is one."""
    if len(text) <= size:
        return [text]
    step = size // 4
    return [text[i:i + size] for i in range(0, len(text) - size + step, step)]


def score_relevance(cands: list[Candidate], question: str, terms: list[str], trust_vectors: bool, *,
                    lexicon: bool = True) -> None:
    """Relevance comparable across queries: cosine and coverage blended, or coverage alone when the
    embedding cannot read the question. The title counts: it is what the whole chunk is about."""
    for cand in cands:
        header = f"{cand.row.get('title') or ''}\n{cand.row.get('section') or ''}"
        cand.coverage = question_coverage(question, terms, str(cand.row["text"]), header=header, lexicon=lexicon)
        cosine = cand.vector_score if cand.vector_score is not None else 0.0
        cand.relevance = (cosine + cand.coverage) / 2 if trust_vectors else cand.coverage
