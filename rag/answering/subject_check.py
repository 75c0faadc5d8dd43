"""Near misses: a figure stated for what was asked, while the source states it for something else.

With a real 1.5B model, asked about something the documents hold a figure of the same kind only for
something else (the asked-about contract has no late-payment clause but another contract has one; the policy
states annual leave, not study leave), the model answered with the other thing's figure, cited, in 3 of 3
cases, and the figure check passed it because the figure is in the source. Two lexical signs catch it:

- the question names a document (its title or file name holds a question term no other document's holds:
  "Harbour Storage") and the figure comes from another document;
- the question asks about something the cited document never mentions (a term the question carries that is
  not in the document at all: "study", "婚假"), while the section the figure comes from is about something the
  question does not name ("3. Annual leave", "2. Meals").

Either makes the answer say, above its text, what the documents state the figure for and that they state
nothing for what was asked, so a confident wrong answer is never shown as the answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from rag.language.cjk import CJK_RE, CJK_RUN_RE
from rag.language.textnorm import normalize
from rag.retrieval.lexicon import term_spans
from rag.retrieval.query import query_terms, stop_marks

# Question words that say what kind of answer is wanted, not what it is about ("how many days", "多少錢").
_GENERIC_EN = frozenset([
    "many", "much", "long", "often", "soon", "quickly", "day", "week", "month", "year", "hour", "minute", "time",
    "date", "maximum", "minimum", "max", "min", "limit", "amount", "number", "total", "get", "give", "take", "need",
    "use", "make", "apply", "request", "pay", "paid", "claim", "ask", "allow", "happen", "mean", "cover", "have",
    "has", "had", "employe", "staff", "compani", "peopl", "person", "anyon", "someon", "one", "first", "last",
    "next", "new", "old", "per", "each", "every", "up", "down", "befor", "after", "within", "until", "via", "get",
    "can", "must", "also", "still", "just", "only", "ever", "too", "set", "tell", "told",
])
_GENERIC_CJK = set("幾多少最天日年月週時間內後前員工公司可以能要需請問的是有嗎呢什麼怎如何每錢元次個些該得會應"
                   "自己我你他們久")
# How a Chinese question asks, not what about (怎麼計算, 有什麼規定): a document states the rule without them.
# SmolLM2-135M restated 計算 for 逾期付款的違約金怎麼計算？ and the answer was declined (bench_answers).
_ASKING_CJK = ("計算", "規定", "方式", "標準", "辦理", "處理", "流程", "程序")
# Words every document title may hold: they name a kind of document, not one document.
_DOCUMENT_KINDS = frozenset(["agreement", "contract", "polici", "policy", "procedur", "procedure", "sop", "rule",
                             "term", "servic", "service", "合約", "契約", "合同", "辦法", "規則", "政策", "協議",
                             "條款", "服務", "規定"])
_ARTICLE_NUMBER = re.compile(r"^第?[0-9〇零一二三四五六七八九十百千]+[條条章節节款項项點点]?$|^\d+(\.\d+)*$")


MIN_NAMING_TERMS = 2
MIN_UNMENTIONED_WORDS = 2  # English words a question asks about, no source mentions and the answer states


@dataclass(frozen=True)
class NearMiss:
    asked: str  # what the question asks about that the source does not state ("study leave", "Harbour Storage")
    stated_for: str  # what the source states the figure for: a section heading, or the document's title
    source: int  # the given source (1-based) the figure comes from


def _words(text: str) -> set[str]:
    """Stemmed words and CJK character pairs of a text, as retrieval reads them (stop words kept out)."""
    return set(query_terms(text))


def distinctive_title_terms(question: str, titles: dict[str, str]) -> dict[str, set[str]]:
    """Documents the question names: {doc: the question's terms found in its title or path and no other's}."""
    terms = [t for t in query_terms(question)
             if t not in _GENERIC_EN and t not in _DOCUMENT_KINDS and not _ARTICLE_NUMBER.match(t)]
    holders: dict[str, set[str]] = {}
    for term in terms:
        docs = [doc for doc, title in titles.items() if term in _words(f"{title}\n{doc.replace('-', ' ')}")]
        if len(docs) == 1:
            holders.setdefault(docs[0], set()).add(term)
    # One shared word ("data" of "Data Processing Agreement") is a coincidence; a name takes two ("Harbour Storage",
    # or the character pairs of 港都物流).
    return {doc: found for doc, found in holders.items() if len(found) >= MIN_NAMING_TERMS}


def _present(term: str, doc_words: set[str], doc_text: str) -> bool:
    if CJK_RE.search(term):
        return term in doc_text
    if term in doc_words:
        return True
    stem = term[: max(4, len(term) - 2)]  # "hire" / "hiring", "terminate" / "termination"
    return any(w.startswith(stem) for w in doc_words)


@dataclass(frozen=True)
class DocumentText:
    """A document's whole indexed text, and its title and headings (what it is organised by)."""

    headings: str
    text: str


def missing_terms(question: str, doc: DocumentText) -> list[str]:
    """What the question asks about that the document never mentions, when it names a kind of something the
    document is organised by: "study" next to "leave" (headings: Annual leave, Sick leave), "婚假" (喪假, 病假).

    English terms are words in the question's own spelling; CJK ones runs of characters around a character
    pair the document lacks. A missing word that qualifies nothing the headings name ("length" of "minimum
    length for a work password") is left alone: it is more often a paraphrase than another subject."""
    doc_text = normalize(f"{doc.headings}\n{doc.text}")
    doc_words = _words(doc_text)
    heading_words = _words(doc.headings)
    text = normalize(question)
    out: list[str] = []
    words = [(w, query_terms(w)) for w in re.findall(r"[A-Za-z][A-Za-z-]+", text)]  # "hire's" is "hire"
    words = [(w, t[0]) for w, t in words if t and t[0] not in _GENERIC_EN]
    for i, (word, term) in enumerate(words):
        if _present(term, doc_words, doc_text):
            continue
        neighbours = [words[j][1] for j in (i - 1, i + 1) if 0 <= j < len(words)]
        if any(_present(t, heading_words, doc.headings) for t in neighbours):
            out.append(word)
    for run in CJK_RUN_RE.findall(text):
        for start, end in _absent_spans(run, doc_text):
            around = run[max(0, start - 1):end + 1]
            if any(c in doc.headings and c not in _GENERIC_CJK for c in around):
                out.append(run[start:end])
    return list(dict.fromkeys(out))


def _absent_spans(run: str, doc_text: str, *, loose: bool = False) -> list[tuple[int, int]]:
    """Spans of a CJK run made of character pairs `doc_text` lacks, question words and generic characters left
    out: what the question asks about that the text never says. A pair counts when one of its characters is
    missing too; `loose` also counts a pair of held characters unless it only joins two held pairs (物流|合約:
    two words side by side), and widens each span by a kept neighbour (手機補 → 手機補助): with many documents
    given, most characters are held somewhere."""
    marks = stop_marks(run)
    keep = [not m and c not in _GENERIC_CJK for c, m in zip(run, marks, strict=True)]

    def held(i: int) -> bool:
        return 0 <= i <= len(run) - 2 and run[i:i + 2] in doc_text

    missing = [False] * len(run)
    for i in range(len(run) - 1):
        if keep[i] and keep[i + 1] and not held(i) and (any(c not in doc_text for c in run[i:i + 2])
                                                        or (loose and not (held(i - 1) and held(i + 1)))):
            missing[i] = missing[i + 1] = True
    spans, start = [], None
    for i, flag in enumerate([*missing, False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            widen = (loose and start > 0 and keep[start - 1], loose and i < len(run) and keep[i])
            spans.append((start - widen[0], i + widen[1]))
            start = None
    return spans


def unmentioned_subject(question: str, answer: str, docs: Sequence[DocumentText]) -> list[str]:
    """What the question asks about that no given document mentions at all, and that the answer states anyway.

    With the relevance floor passed on the question's other words (員工, 每個月), a 1.5B model answered
    員工每個月的手機補助是多少？ with "員工每個月的手機補助是 1500 元" citing the leave rules,
    and 員工認股權要怎麼行使？ with a sentence restating the question (bench/bench_answers.py).
    An answer about a subject none of its sources names is not an answer from the documents. Everyday
    words whose formal word a document uses (過世 → 喪亡, rag/lexicon.py) count as mentioned; an English
    word counts by its stem ("hire"/"hiring")."""
    doc_text = normalize("\n".join(f"{d.headings}\n{d.text}" for d in docs))
    if not doc_text.strip():
        return []
    said = normalize(answer)
    out: list[str] = []
    for run in CJK_RUN_RE.findall(normalize(question)):
        said_formally = {i for start, end, formal in term_spans(run) if any(f in doc_text for f in formal)
                         for i in range(start, end)}
        said_formally |= {i for word in (*_DOCUMENT_KINDS, *_ASKING_CJK) if CJK_RE.match(word)  # 合約 for a 契約
                          for m in re.finditer(re.escape(word), run) for i in range(m.start(), m.end())}
        for start, end in _absent_spans(run, doc_text, loose=True):
            term = run[start:end]
            if not said_formally & set(range(start, end)) and term in said:
                out.append(term)
    doc_words, said_words = _words(doc_text), _words(said)
    english = []
    for word in re.findall(r"[A-Za-z][A-Za-z-]+", normalize(question)):
        terms = query_terms(word)
        if terms and terms[0] not in _GENERIC_EN and not _present(terms[0], doc_words, doc_text) \
                and terms[0] in said_words:
            english.append(word)
    # One English word alone is more often the question's own wording ("length" for "at least 14 characters")
    if len(english) >= MIN_UNMENTIONED_WORDS:
        out.extend(english)
    return list(dict.fromkeys(out))


def heading_outside_question(section: str, question: str, title: str = "") -> str:
    """The section path (numbers and the document's own title dropped) when its headings name something the
    question does not ("Meals"; "Annual leave › Entitlement" for a question about study leave), else ""."""
    headings = [re.sub(r"^\s*(第\s*\S+?\s*[條条章節]|\d+(\.\d+)*\.?)\s*", "", h).strip() or h.strip()
                for h in section.split(" › ") if h.strip()]
    headings = [h for h in headings if normalize(h).casefold() != normalize(title).casefold()]
    terms = [t for h in headings for t in query_terms(h) if not _ARTICLE_NUMBER.match(t) and t not in _GENERIC_EN]
    asked = _words(question)
    if terms and any(t not in asked for t in terms):
        return " › ".join(headings)
    return ""


def near_misses(
    question: str,
    figure_sources: Iterable[int],
    docs: Sequence[str],
    titles: Sequence[str],
    sections: Sequence[str],
    document_text: Callable[[str], DocumentText],
    known_titles: dict[str, str] | None = None,
) -> list[NearMiss]:
    """Near misses among the sources (1-based) that the answer's figures come from.

    `docs`, `titles` and `sections` describe each given source; `document_text(doc)` is a document's whole
    indexed text and headings (the check is on the document, not only the passage given); `known_titles` the
    other documents the question may name.
    """
    numbers = sorted(set(figure_sources))
    if not numbers:
        return []
    every_title = {**(known_titles or {}), **dict(zip(docs, titles, strict=True))}
    named = distinctive_title_terms(question, every_title)
    out: list[NearMiss] = []
    figure_docs = {docs[n - 1] for n in numbers}
    if named and not figure_docs & set(named):
        asked = max(named, key=lambda d: len(named[d]))
        for doc in dict.fromkeys(docs[n - 1] for n in numbers):
            n = next(n for n in numbers if docs[n - 1] == doc)
            out.append(NearMiss(asked=every_title[asked], stated_for=titles[n - 1], source=n))
        return out
    texts: dict[str, DocumentText] = {}
    for n in numbers:
        doc = docs[n - 1]
        if doc not in texts:
            found = document_text(doc)
            texts[doc] = DocumentText(f"{titles[n - 1]}\n{found.headings}", found.text)
        if not texts[doc].text.strip():
            continue  # the document could not be read: no verdict on what it never mentions
        missing = missing_terms(question, texts[doc])
        outside = heading_outside_question(sections[n - 1], question, titles[n - 1])
        if missing and outside:
            out.append(NearMiss(asked=" ".join(missing) if not CJK_RE.search(missing[0]) else "、".join(missing),
                                stated_for=outside, source=n))
    return out
