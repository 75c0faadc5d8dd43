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

from rag.query import CJK_RE, CJK_RUN_RE, query_terms, stop_marks
from rag.textnorm import normalize

# Question words that say what kind of answer is wanted, not what it is about ("how many days", "多少錢").
_GENERIC_EN = frozenset([
    "many", "much", "long", "often", "soon", "quickly", "day", "week", "month", "year", "hour", "minute", "time",
    "date", "maximum", "minimum", "max", "min", "limit", "amount", "number", "total", "get", "give", "take", "need",
    "use", "make", "apply", "request", "pay", "paid", "claim", "ask", "allow", "happen", "mean", "cover", "have",
    "has", "had", "employe", "staff", "compani", "peopl", "person", "anyon", "someon", "one", "first", "last",
    "next", "new", "old", "per", "each", "every", "up", "down", "befor", "after", "within", "until", "via", "get",
    "can", "must", "also", "still", "just", "only", "ever",
])
_GENERIC_CJK = set("幾多少最天日年月週時間內後前員工公司可以能要需請問的是有嗎呢什麼怎如何每錢元次個些該得會應"
                   "自己我你他們")
# Words every document title may hold: they name a kind of document, not one document.
_DOCUMENT_KINDS = frozenset(["agreement", "contract", "polici", "policy", "procedur", "procedure", "sop", "rule",
                             "term", "servic", "service", "合約", "契約", "合同", "辦法", "規則", "政策", "協議",
                             "條款", "服務", "規定"])
_ARTICLE_NUMBER = re.compile(r"^第?[0-9〇零一二三四五六七八九十百千]+[條条章節节款項项點点]?$|^\d+(\.\d+)*$")


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
    return holders


def _present(term: str, doc_words: set[str], doc_text: str) -> bool:
    if CJK_RE.search(term):
        return term in doc_text
    if term in doc_words:
        return True
    stem = term[: max(4, len(term) - 2)]  # "hire" / "hiring", "terminate" / "termination"
    return any(w.startswith(stem) for w in doc_words)


def missing_terms(question: str, doc_text: str) -> list[str]:
    """What the question is about that the document never mentions: words in the question's own spelling
    (English) or runs of characters (CJK) around a character pair the document lacks."""
    doc_text = normalize(doc_text)
    doc_words = _words(doc_text)
    text = normalize(question)
    out: list[str] = []
    for word in re.findall(r"[A-Za-z][A-Za-z'’-]+", text):
        terms = query_terms(word)
        if terms and terms[0] not in _GENERIC_EN and not _present(terms[0], doc_words, doc_text):
            out.append(word)
    for run in CJK_RUN_RE.findall(text):
        marks = stop_marks(run)
        keep = [not m and c not in _GENERIC_CJK for c, m in zip(run, marks, strict=True)]
        missing = [False] * len(run)
        for i in range(len(run) - 1):
            pair = run[i:i + 2]
            if keep[i] and keep[i + 1] and pair not in doc_text and any(c not in doc_text for c in pair):
                missing[i] = missing[i + 1] = True
        start = None
        for i, flag in enumerate([*missing, False]):
            if flag and start is None:
                start = i
            elif not flag and start is not None:
                out.append(run[start:i])
                start = None
    return list(dict.fromkeys(out))


def heading_outside_question(section: str, question: str) -> str:
    """The section path (numbers dropped) when its headings name something the question does not ("Meals";
    "Annual leave › Entitlement" for a question about study leave), else ""."""
    headings = [re.sub(r"^\s*(第\s*\S+?\s*[條条章節]|\d+(\.\d+)*\.?)\s*", "", h).strip() or h.strip()
                for h in section.split(" › ") if h.strip()]
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
    document_text: Callable[[str], str],
) -> list[NearMiss]:
    """Near misses among the sources (1-based) that the answer's figures come from.

    `docs`, `titles` and `sections` describe each given source; `document_text(doc)` is a document's whole
    indexed text (the check is on the document, not only the passage given).
    """
    numbers = sorted(set(figure_sources))
    if not numbers:
        return []
    named = distinctive_title_terms(question, dict(zip(docs, titles, strict=True)))
    out: list[NearMiss] = []
    figure_docs = {docs[n - 1] for n in numbers}
    if named and not figure_docs & set(named):
        asked = max(named, key=lambda d: len(named[d]))
        for n in numbers:
            out.append(NearMiss(asked=titles[docs.index(asked)], stated_for=titles[n - 1], source=n))
        return out
    texts: dict[str, str] = {}
    for n in numbers:
        doc = docs[n - 1]
        if doc not in texts:
            texts[doc] = document_text(doc)
        if not texts[doc].strip():
            continue  # the document could not be read: no verdict on what it never mentions
        missing = missing_terms(question, f"{titles[n - 1]}\n{texts[doc]}")
        outside = heading_outside_question(sections[n - 1], question)
        if missing and outside:
            out.append(NearMiss(asked=" ".join(missing) if not CJK_RE.search(missing[0]) else "、".join(missing),
                                stated_for=outside, source=n))
    return out
