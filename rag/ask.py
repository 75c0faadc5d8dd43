"""Question → retrieval → prompt → Ollama → Answer with resolved citations.

The user always gets something true: when Ollama is down, slow or missing the
model, the answer is the best matching passages quoted and cited, with a note
that generation is unavailable; when nothing relevant is indexed, it says so.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from rag.answer import Answer
from rag.citations import (
    CitedChunk,
    StreamingRenumberer,
    cited_sentences,
    make_citation,
    resolve_markers,
    row_modified,
    row_pages,
)
from rag.duplicates import shared_text, with_shared
from rag.evidence import sentence_spans
from rag.figures import check_figures, mark_in_text
from rag.generate import GenerationError, OllamaGenerator
from rag.prompt import PromptSource, build_messages
from rag.relevance import term_coverage
from rag.retrieve import CJK_RE, Candidate, Retrieval, query_terms
from rag.thinking import ThinkingProgress

log = logging.getLogger(__name__)

EXCERPT_CHARS = 360
EXTRACTIVE_PASSAGES = 3


def _zh(question: str) -> bool:
    return bool(CJK_RE.search(question))


# Where each surface lists the indexed documents: the no-answer text points the asker there.
SOURCES_COMMAND = {"slack": "/rag-sources", "cli": "`ragbot sources`"}


def no_answer_text(question: str, surface: str = "slack") -> str:
    where = SOURCES_COMMAND.get(surface, SOURCES_COMMAND["slack"])
    if _zh(question):
        return f"已索引的文件中找不到這個問題的答案。可用 {where} 查看機器人知道哪些文件，或換個說法再問一次。"
    return ("I couldn't find this in the indexed documents. "
            f"Try rephrasing, or use {where} to see which documents I know.")


def uncited_notice(question: str) -> str:
    return "（此回答未引用任何文件，請謹慎參考。）" if _zh(question) else \
        "This answer cites no document: treat it with care."


def fallback_notice(question: str) -> str:
    """A plain sentence for the asker: the reason (an internal URL, an errno) goes to the log and `ragbot doctor`."""
    if _zh(question):
        return "語言模型目前無法使用，以下是最相關的文件段落原文。"
    return "The language model is unavailable right now, so here are the most relevant passages, quoted as written."


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


def extractive_answer(question: str, retrieval: Retrieval, reason: str) -> Answer:
    terms = query_terms(question)
    best = max((h.relevance for h in retrieval.hits), default=0.0)
    # Only passages nearly as relevant as the best one: a quote is shown as-is, so a marginal one misleads.
    hits = [h for h in retrieval.hits if h.relevance >= 0.75 * best][:EXTRACTIVE_PASSAGES]
    log.warning("answer generation unavailable, quoting passages instead: %s", reason)
    lines = [fallback_notice(question), ""]
    quoted: dict[str, list[CitedChunk]] = {}  # per document, in order: each quoted passage is one cited place
    for hit in hits:
        quote = best_excerpt(str(hit.row["text"]), terms)
        quoted.setdefault(hit.doc_path, []).append(CitedChunk(row=hit.row, quote=quote))
        number = list(quoted).index(hit.doc_path) + 1
        lines.append("\n".join(f"> {line}" for line in quote.splitlines()) + f" [{number}]")
    citations = [with_shared(make_citation(i, chunks), hits) for i, chunks in enumerate(quoted.values(), start=1)]
    return Answer(
        question=question, text="\n".join(lines).strip(), citations=citations, mode="extractive",
        notice=fallback_notice(question), unavailable_reason=reason, sources_given=len(retrieval.hits),
        retrieval_ms=retrieval.elapsed_ms, rerank_ms=retrieval.rerank_ms,
    )


def generated_answer(
    question: str,
    retrieval: Retrieval,
    generator: OllamaGenerator,
    *,
    history: list[tuple[str, str]] | None,
    num_ctx: int,
    answer_tokens: int,
    on_token: Callable[[str], None] | None,
    on_status: Callable[[str], None] | None,
    figure_check: bool = True,
) -> Answer:
    messages, given = build_messages(  # leave room for all the model may generate, reasoning included
        question, prompt_sources(retrieval.hits), history=history, num_ctx=num_ctx,
        answer_tokens=max(answer_tokens, generator.num_predict),
    )
    if retrieval.hits and not given:  # the model would see no source and say the documents are silent
        reason = f"no source fits OLLAMA_NUM_CTX={num_ctx} with {generator.num_predict} tokens kept for the answer"
        log.warning("%s: quoting passages instead", reason)
        return extractive_answer(question, retrieval, reason)
    if on_status:
        on_status("writing the answer…")
    started = time.perf_counter()
    doc_key = {n: retrieval.hits[n - 1].doc_path for n in range(1, len(given) + 1)}
    renumber = StreamingRenumberer(doc_key)

    def emit(piece: str) -> None:
        if on_token and (ready := renumber.feed(piece)):
            on_token(ready)

    try:
        result = generator.generate(messages, on_token=emit, on_thinking=ThinkingProgress(on_status))
        if on_token and (rest := renumber.finish()):
            on_token(rest)
    except GenerationError as err:
        answer = extractive_answer(question, retrieval, str(err))
        answer.generation_ms = (time.perf_counter() - started) * 1000
        return answer
    generation_ms = (time.perf_counter() - started) * 1000
    hits_by_number = {n: retrieval.hits[n - 1] for n in range(1, len(given) + 1)}
    resolved = resolve_markers(result.text, doc_key)
    if resolved.dropped:
        log.warning("dropped citation markers %s: only %d sources were given", resolved.dropped, len(given))
    claims = cited_sentences(result.text)
    citations = [
        with_shared(make_citation(i, [CitedChunk(row=hits_by_number[n].row, claims=tuple(claims.get(n, ())))
                                      for n in group], fallback_claim=question),
                    [hits_by_number[n] for n in group])  # GROUP_DUPLICATES: the other documents with its text
        for i, group in enumerate(resolved.groups, start=1)
    ]
    answer = Answer(
        question=question, text=resolved.text, citations=citations, mode="generated",
        sources_given=len(given), retrieval_ms=retrieval.elapsed_ms, rerank_ms=retrieval.rerank_ms,
        generation_ms=generation_ms, dropped_markers=resolved.dropped,
    )
    if not citations:
        answer.notice = uncited_notice(question)
    if figure_check:  # FIGURE_CHECK
        mark_figures(answer, [str(h.row.get("title") or "") + "\n" + str(h.row["text"])
                              for h in hits_by_number.values()])
    if result.truncated_prompt:  # the model missed part of the prompt: say so where the reader sees it
        notice = truncated_notice(question)
        answer.notice = f"{answer.notice}\n{notice}" if answer.notice else notice
    return answer


def truncated_notice(question: str) -> str:
    """Said to the asker; the cause (OLLAMA_NUM_CTX, the model's own context) is logged by rag/generate.py."""
    if _zh(question):
        return "⚠ 來源太長，模型只讀到其中一部分，回答可能不完整。"
    return "⚠ The sources were too long for the model, which read only part of them: the answer may be incomplete."


def figure_notice(question: str, figures: list[str]) -> str:
    listed = "、".join(figures) if _zh(question) else ", ".join(figures)
    if _zh(question):
        return f"⚠ 以下數字在引用的文件中找不到：{listed}。請以引用段落為準。"
    return f"⚠ Not found in the cited sources: {listed}. Check the quoted passages before relying on it."


def mark_figures(answer: Answer, sources: list[str]) -> None:
    """Mark each figure of a generated answer that no source given to the model holds (rag/figures.py)."""
    check = check_figures(answer.text, sources)
    answer.figures_checked = check.checked
    if not check.unsupported:
        return
    answer.unsupported_figures = list(dict.fromkeys(f.text for f in check.unsupported))
    answer.text = mark_in_text(answer.text, answer.unsupported_figures)
    notice = figure_notice(answer.question, answer.unsupported_figures)
    answer.notice = f"{answer.notice}\n{notice}" if answer.notice else notice
    log.warning("answer states figures found in no source: %s", answer.unsupported_figures)


def no_answer(question: str, retrieval: Retrieval, surface: str = "slack") -> Answer:
    return Answer(
        question=question, text=no_answer_text(question, surface), mode="no_answer",
        retrieval_ms=retrieval.elapsed_ms, rerank_ms=retrieval.rerank_ms,
    )
