"""Question → retrieval → prompt → model (Ollama or OpenAI-compatible) → reviewed Answer with resolved citations.

The user always gets something true: when the model is down, slow, missing, out of budget or writes nothing
usable (only markers, another language), the answer is the best matching passages quoted and cited, with a
note saying why; what it does write is reviewed before it is final (rag/answering/answer_review.py: sources matched to
unmarked sentences, figures checked against what each sentence cites, near misses said plainly, an answer about
what no source mentions declined, one no source supports replaced by the quoted passages); when nothing relevant
is indexed, it says so.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from rag.answering.answer_review import GivenSource, Review, review
from rag.answering.citations import (
    CitedChunk,
    StreamingRenumberer,
    make_citation,
    resolve_markers,
    row_modified,
    row_pages,
)
from rag.answering.evidence import sentence_spans
from rag.answering.figures import mark_in_text
from rag.answering.generation import Generator
from rag.answering.ollama_errors import ContextTooLong, GenerationError, NoAnswerWritten
from rag.answering.prompt import PromptSource, build_messages, format_header, new_fence_tag
from rag.answering.reply_checks import cut_loop, no_answer_in, wrong_language
from rag.answering.subject_check import DocumentText
from rag.answering.thinking import ThinkingProgress
from rag.language.notices import (
    fallback_notice,
    figure_notice,
    inferred_notice,
    length_notice,
    loop_notice,
    no_answer_text,
    truncated_notice,
    unmentioned_text,
)
from rag.language.script import TraditionalWriter, wants_traditional
from rag.retrieval.candidates import Candidate, Retrieval
from rag.retrieval.duplicates import shared_text, with_shared
from rag.retrieval.query import query_terms
from rag.retrieval.relevance import term_coverage
from rag.values import Answer

__all__ = ["extractive_answer", "generated_answer", "no_answer", "no_answer_text", "prompt_sources"]

log = logging.getLogger(__name__)

EXCERPT_CHARS = 360
EXTRACTIVE_PASSAGES = 3


def prompt_sources(hits: list[Candidate]) -> list[PromptSource]:
    return [
        PromptSource(
            number=i, title=str(h.row.get("title") or h.doc_path), section=str(h.row.get("section") or ""),
            pages=row_pages([h.row]), modified=row_modified(h.row), text=str(h.row["text"]),
            shared=shared_text(h),
        )
        for i, h in enumerate(hits, start=1)
    ]


def best_excerpt(text: str, terms: list[str], max_chars: int = EXCERPT_CHARS) -> str:
    """The sentence that matches the question best, widened with its neighbours up to `max_chars`.

    Cut from the text as written, so table rows and list items keep their own lines.
    """
    spans = sentence_spans(text)
    if not spans:
        return text[:max_chars]
    scores = [term_coverage(terms, text[a:b]) for a, b in spans]
    best = max(range(len(spans)), key=lambda i: (scores[i], -i))
    lo = hi = best
    while True:
        grew = False
        if hi + 1 < len(spans) and spans[hi + 1][1] - spans[lo][0] < max_chars:
            hi += 1
            grew = True
        if lo > 0 and spans[hi][1] - spans[lo - 1][0] < max_chars:
            lo -= 1
            grew = True
        if not grew:
            break
    excerpt = text[spans[lo][0]:spans[hi][1]]
    if len(excerpt) > max_chars:
        excerpt = excerpt[: max_chars - 1].rstrip() + "…"
    return ("… " if lo > 0 else "") + excerpt + (" …" if hi < len(spans) - 1 else "")


def extractive_answer(question: str, retrieval: Retrieval, reason: str, kind: str = "unavailable") -> Answer:
    """The best passages quoted as written; `kind` says why to the asker (rag/language/notices.py FALLBACK_REASONS)."""
    terms = query_terms(question)
    best = max((h.relevance for h in retrieval.hits), default=0.0)
    # Only passages nearly as relevant as the best one: a quote is shown as-is, so a marginal one misleads.
    hits = [h for h in retrieval.hits if h.relevance >= 0.75 * best][:EXTRACTIVE_PASSAGES]
    log.warning("quoting passages instead of the model's answer: %s", reason)
    notice = fallback_notice(question, kind)
    lines = [notice, ""]
    quoted: dict[str, list[CitedChunk]] = {}  # per document, in order: each quoted passage is one cited place
    for hit in hits:
        quote = best_excerpt(str(hit.row["text"]), terms)
        quoted.setdefault(hit.doc_path, []).append(CitedChunk(row=hit.row, quote=quote))
        number = list(quoted).index(hit.doc_path) + 1
        lines.append("\n".join(f"> {line}" for line in quote.splitlines()) + f" [{number}]")
    citations = [with_shared(make_citation(i, chunks), hits) for i, chunks in enumerate(quoted.values(), start=1)]
    return Answer(
        question=question, text="\n".join(lines).strip(), citations=citations, mode="extractive",
        notice=notice, unavailable_reason=reason, sources_given=len(retrieval.hits),
        retrieval_ms=retrieval.elapsed_ms, rerank_ms=retrieval.rerank_ms,
    )


def _fallback_kind(err: GenerationError) -> str:
    if isinstance(err, NoAnswerWritten):
        return "budget" if "thinking" in str(err) else "empty"
    if isinstance(err, ContextTooLong):
        return "context"
    return "unavailable"


def generated_answer(
    question: str,
    retrieval: Retrieval,
    generator: Generator,
    *,
    history: list[tuple[str, str]] | None,
    num_ctx: int,
    answer_tokens: int,
    on_token: Callable[[str], None] | None,
    on_status: Callable[[str], None] | None,
    figure_check: bool = True,
    document_text: Callable[[str], DocumentText] | None = None,
    known_titles: dict[str, str] | None = None,
) -> Answer:
    """The model's answer, streamed, then reviewed (rag/answering/answer_review.py) before it is final.

    `document_text(doc)` gives a cited document's whole indexed text and headings for the near-miss check;
    without it only the passages given are read."""
    tag = new_fence_tag()
    messages, given = build_messages(  # leave room for all the model may generate, reasoning included
        question, prompt_sources(retrieval.hits), history=history, num_ctx=num_ctx,
        answer_tokens=max(answer_tokens, generator.num_predict), tag=tag,
    )
    if retrieval.hits and not given:  # the model would see no source and say the documents are silent
        reason = f"no source fits OLLAMA_NUM_CTX={num_ctx} with {generator.num_predict} tokens kept for the answer"
        return extractive_answer(question, retrieval, reason, kind="context")
    if on_status:
        on_status("writing the answer…")
    started = time.perf_counter()
    hits = retrieval.hits[:len(given)]
    doc_key = {n: h.doc_path for n, h in enumerate(hits, start=1)}
    renumber = StreamingRenumberer(doc_key)
    # Traditional Chinese stays Traditional (rag/language/script.py): converted as it streams, sources' own characters
    # kept
    script = TraditionalWriter(keep="".join(src.text for src in given)) if wants_traditional(question) else None

    def emit(piece: str) -> None:
        if on_token and (ready := renumber.feed(script(piece) if script else piece)):
            on_token(ready)

    try:
        result = generator.generate(messages, on_token=emit, on_thinking=ThinkingProgress(on_status))
        if on_token and (rest := renumber.finish()):
            on_token(rest)
    except GenerationError as err:
        answer = extractive_answer(question, retrieval, str(err), kind=_fallback_kind(err))
        answer.generation_ms = (time.perf_counter() - started) * 1000
        return answer
    generation_ms = (time.perf_counter() - started) * 1000
    final_script = TraditionalWriter(keep="".join(src.text for src in given)) if script else None
    text = final_script(result.text) if final_script else result.text  # whole text: conversion reads phrases
    if no_answer_in(text):  # "[1][2]", or the start of a refusal: nothing a reader could use
        answer = extractive_answer(question, retrieval, f"the model wrote no answer ({text.strip()[:40]!r})", "empty")
    elif wrong_language(question, text):
        answer = extractive_answer(question, retrieval, "the model answered in another language", "language")
    else:
        answer = _reviewed_answer(question, text, result.done_reason, hits, given, document_text, known_titles,
                                  figure_check=figure_check)
        if answer.mode == "generated" and not answer.citations:
            # No marker, and no sentence matched to a source: nothing in it can be checked. SmolLM2-135M wrote
            # "The answer is: 2." and "The hotel limit per night for a business trip to Tokyo is 1."
            # (bench/bench_answers.py); the 1.5B model's answers always had a source after the review.
            answer = extractive_answer(question, retrieval, "the model's answer cites no source and matches none",
                                       "unmatched")
        answer.sources_given = len(given)
        answer.script_converted = final_script.changed if final_script else 0
    answer.retrieval_ms, answer.rerank_ms, answer.generation_ms = (
        retrieval.elapsed_ms, retrieval.rerank_ms, generation_ms)
    if result.truncated_prompt:  # the model missed part of the prompt: say so where the reader sees it
        _add_notice(answer, truncated_notice(question))
    return answer


def _reviewed_answer(question: str, text: str, done_reason: str, hits: list[Candidate], given: list[PromptSource],
                     document_text: Callable[[str], DocumentText] | None, known_titles: dict[str, str] | None, *,
                     figure_check: bool) -> Answer:
    notices = []
    loop = cut_loop(text)
    if loop.cut:
        text = loop.text
        notices.append(loop_notice(question))
    elif done_reason == "length":
        notices.append(length_notice(question))
    sources = [GivenSource(number=src.number, doc=hit.doc_path, title=src.title, section=src.section,
                           text=src.text, header=format_header(src)) for src, hit in zip(given, hits, strict=True)]
    verdict = review(question, text, sources, document_text or _passages_of(sources), known_titles)
    if verdict.unmentioned:  # an answer about what no source mentions is no answer from the documents
        log.info("declined after the answer: the sources never mention %s", verdict.unmentioned)
        return Answer(question=question, text=unmentioned_text(question, verdict.unmentioned), mode="no_answer")
    doc_key = {s.number: s.doc for s in sources}
    resolved = resolve_markers(verdict.text, doc_key)
    if resolved.dropped:
        log.warning("dropped citation markers %s: only %d sources were given", resolved.dropped, len(given))
    citations = [
        with_shared(make_citation(i, [CitedChunk(row=hits[n - 1].row, claims=tuple(verdict.claims.get(n, ())))
                                      for n in group], fallback_claim=question),
                    [hits[n - 1] for n in group])  # GROUP_DUPLICATES: the other documents with its text
        for i, group in enumerate(resolved.groups, start=1)
    ]
    answer = Answer(question=question, text=resolved.text, citations=citations, mode="generated",
                    dropped_markers=resolved.dropped, near_miss=bool(verdict.near_misses),
                    citations_inferred=verdict.inferred)
    if verdict.inferred and citations:
        notices.append(inferred_notice(question))
    if figure_check:  # FIGURE_CHECK
        _mark_figures(answer, verdict, sources)
    for notice in notices:
        _add_notice(answer, notice)
    return answer


def _passages_of(sources: list[GivenSource]) -> Callable[[str], DocumentText]:
    return lambda doc: DocumentText("\n".join(s.section for s in sources if s.doc == doc),
                                    "\n".join(s.text for s in sources if s.doc == doc))


def _add_notice(answer: Answer, notice: str) -> None:
    answer.notice = f"{answer.notice}\n{notice}" if answer.notice else notice


def _mark_figures(answer: Answer, verdict: Review, sources: list[GivenSource]) -> None:
    """Mark each figure no cited source holds (rag/answering/claim_check.py), naming the uncited source that does."""
    answer.figures_checked = verdict.figures_checked
    if not verdict.flagged:
        return
    figures = list(dict.fromkeys(f.figure.text for f in verdict.flagged))
    elsewhere = {f.figure.text: sources[f.found_in - 1].title for f in verdict.flagged if f.found_in}
    answer.unsupported_figures = figures
    answer.text = mark_in_text(answer.text, figures, {f.figure.text: f.claim[:30] for f in verdict.flagged})
    _add_notice(answer, figure_notice(answer.question, figures, elsewhere))
    log.warning("answer states figures its cited sources do not hold: %s", figures)


def no_answer(question: str, retrieval: Retrieval, surface: str = "slack") -> Answer:
    return Answer(
        question=question, text=no_answer_text(question, surface), mode="no_answer",
        retrieval_ms=retrieval.elapsed_ms, rerank_ms=retrieval.rerank_ms,
    )
