"""Question → retrieval → prompt → Ollama → Answer with resolved citations.

The user always gets something true: when Ollama is down, slow or missing the
model, the answer is the best matching passages quoted and cited, with a note
that generation is unavailable; when nothing relevant is indexed, it says so.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from rag.answer import Answer, Citation
from rag.citations import StreamingRenumberer, resolve_markers
from rag.generate import GenerationError, OllamaGenerator
from rag.prompt import PromptSource, build_messages
from rag.retrieve import CJK_RE, Candidate, Retrieval, query_terms, term_coverage

log = logging.getLogger(__name__)

_SENTENCE_SPLIT = re.compile(r"(?<=[.!?。！？；])\s+|\n+|(?<=[。！？；])")
EXCERPT_CHARS = 360
EXTRACTIVE_PASSAGES = 3


def _zh(question: str) -> bool:
    return bool(CJK_RE.search(question))


def no_answer_text(question: str) -> str:
    if _zh(question):
        return "已索引的文件中找不到這個問題的答案。可用 /rag-sources 查看機器人知道哪些文件，或換個說法再問一次。"
    return ("I couldn't find this in the indexed documents. "
            "Try rephrasing, or use /rag-sources to see which documents I know.")


def uncited_notice(question: str) -> str:
    return "（此回答未引用任何文件，請謹慎參考。）" if _zh(question) else \
        "This answer cites no document: treat it with care."


def fallback_notice(question: str, reason: str) -> str:
    if _zh(question):
        return f"目前無法產生回答（{reason}），以下是最相關的文件段落原文。"
    return f"Answer generation is unavailable ({reason}); here are the most relevant passages, quoted as written."


def _slug(heading: str) -> str:
    slug = re.sub(r"[^\w\- ]", "", heading.lower()).strip().replace(" ", "-")
    return slug


def deep_link(row: dict[str, Any]) -> str:
    """Link to the place: file.pdf#page=N for PDFs, the section anchor otherwise."""
    link = str(row.get("link") or "")
    if row.get("format") == "pdf" and row.get("page_start"):
        return f"{link}#page={row['page_start']}"
    section = str(row.get("section") or "")
    if section:
        return f"{link}#{_slug(section.split(' › ')[-1])}"
    return link


def _pages(rows: list[dict[str, Any]]) -> tuple[int, int] | None:
    starts = [r["page_start"] for r in rows if r.get("page_start")]
    ends = [r["page_end"] or r["page_start"] for r in rows if r.get("page_start")]
    return (min(starts), max(ends)) if starts else None


def _modified(row: dict[str, Any]) -> datetime:
    value = row.get("modified")
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)) if value else datetime.fromtimestamp(0, UTC)


def make_citation(number: int, rows: list[dict[str, Any]], quote: str) -> Citation:
    first = rows[0]
    sections = list(dict.fromkeys(str(r.get("section") or "") for r in rows if r.get("section")))
    return Citation(
        number=number, title=str(first.get("title") or first["doc_path"]), rel_path=str(first["doc_path"]),
        kind=str(first.get("kind") or "document"), section="; ".join(sections), pages=_pages(rows),
        modified=_modified(first), link=deep_link(first), quote=quote,
    )


def prompt_sources(hits: list[Candidate]) -> list[PromptSource]:
    return [
        PromptSource(
            number=i, title=str(h.row.get("title") or h.doc_path), section=str(h.row.get("section") or ""),
            pages=_pages([h.row]), modified=_modified(h.row), text=str(h.row["text"]),
        )
        for i, h in enumerate(hits, start=1)
    ]


def best_excerpt(text: str, terms: list[str], max_chars: int = EXCERPT_CHARS) -> str:
    """The sentence that matches the question best, widened with its neighbours up to `max_chars`."""
    sentences = [s.strip() for s in _SENTENCE_SPLIT.split(text) if s and s.strip()]
    if not sentences:
        return text[:max_chars]
    scores = [term_coverage(terms, s) for s in sentences]
    best = max(range(len(sentences)), key=lambda i: (scores[i], -i))
    lo = hi = best
    joiner = "" if CJK_RE.search(text) else " "
    excerpt = sentences[best]
    while True:
        grew = False
        if hi + 1 < len(sentences) and len(excerpt) + len(sentences[hi + 1]) < max_chars:
            hi += 1
            excerpt = excerpt + joiner + sentences[hi]
            grew = True
        if lo > 0 and len(excerpt) + len(sentences[lo - 1]) < max_chars:
            lo -= 1
            excerpt = sentences[lo] + joiner + excerpt
            grew = True
        if not grew:
            break
    if len(excerpt) > max_chars:
        excerpt = excerpt[: max_chars - 1].rstrip() + "…"
    return ("… " if lo > 0 else "") + excerpt + (" …" if hi < len(sentences) - 1 else "")


def extractive_answer(question: str, retrieval: Retrieval, reason: str) -> Answer:
    terms = query_terms(question)
    best = max((h.relevance for h in retrieval.hits), default=0.0)
    # Only passages nearly as relevant as the best one: a quote is shown as-is, so a marginal one misleads.
    hits = [h for h in retrieval.hits if h.relevance >= 0.75 * best][:EXTRACTIVE_PASSAGES]
    citations: list[Citation] = []
    lines = [fallback_notice(question, reason), ""]
    doc_numbers: dict[str, int] = {}
    for hit in hits:
        quote = best_excerpt(str(hit.row["text"]), terms)
        if hit.doc_path not in doc_numbers:
            doc_numbers[hit.doc_path] = len(doc_numbers) + 1
            citations.append(make_citation(doc_numbers[hit.doc_path], [hit.row], quote))
        lines.append(f"> {quote} [{doc_numbers[hit.doc_path]}]")
    return Answer(
        question=question, text="\n".join(lines).strip(), citations=citations, mode="extractive",
        notice=fallback_notice(question, reason), sources_given=len(retrieval.hits),
        retrieval_ms=retrieval.embed_ms + retrieval.search_ms,
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
) -> Answer:
    messages, given = build_messages(
        question, prompt_sources(retrieval.hits), history=history, num_ctx=num_ctx, answer_tokens=answer_tokens,
    )
    if on_status:
        on_status("writing the answer…")
    started = time.perf_counter()
    doc_key = {n: retrieval.hits[n - 1].doc_path for n in range(1, len(given) + 1)}
    renumber = StreamingRenumberer(doc_key)

    def emit(piece: str) -> None:
        if on_token and (ready := renumber.feed(piece)):
            on_token(ready)

    try:
        result = generator.generate(messages, on_token=emit)
        if on_token and (rest := renumber.finish()):
            on_token(rest)
    except GenerationError as err:
        log.info("generation failed, answering extractively: %s", err)
        answer = extractive_answer(question, retrieval, str(err))
        answer.generation_ms = (time.perf_counter() - started) * 1000
        return answer
    generation_ms = (time.perf_counter() - started) * 1000
    hits_by_number = {n: retrieval.hits[n - 1] for n in range(1, len(given) + 1)}
    resolved = resolve_markers(result.text, doc_key)
    if resolved.dropped:
        log.warning("dropped citation markers %s: only %d sources were given", resolved.dropped, len(given))
    citations = [
        make_citation(i, [hits_by_number[n].row for n in group], str(hits_by_number[group[0]].row["text"]))
        for i, group in enumerate(resolved.groups, start=1)
    ]
    answer = Answer(
        question=question, text=resolved.text, citations=citations, mode="generated",
        sources_given=len(given), retrieval_ms=retrieval.embed_ms + retrieval.search_ms,
        generation_ms=generation_ms, dropped_markers=resolved.dropped,
    )
    if not citations:
        answer.notice = uncited_notice(question)
    if result.truncated_prompt:
        log.warning("Ollama truncated the prompt (num_ctx %d): raise OLLAMA_NUM_CTX", num_ctx)
    return answer


def no_answer(question: str, retrieval: Retrieval) -> Answer:
    return Answer(
        question=question, text=no_answer_text(question), mode="no_answer",
        retrieval_ms=retrieval.embed_ms + retrieval.search_ms,
    )
