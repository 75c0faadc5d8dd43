"""Golden questions as a company writes them: a JSON Lines file read, checked and named line by line.

`ragbot eval` and the sync gate (EVAL_QUESTIONS) read them here; rag/ops/evaluate.py scores them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_SPACE_RE = re.compile(r"\s+")


class QuestionsFileError(Exception):
    """The questions file cannot be used; the message names the line."""


class BlankExpectedDocument(QuestionsFileError):
    """A question whose expected document was left blank (`ragbot gaps --export` writes them so)."""


@dataclass(frozen=True)
class GoldenQuestion:
    question: str
    docs: tuple[str, ...] = ()  # relative paths, any of which answers it
    answer: str | None = None  # text the right chunk contains
    unanswerable: bool = False
    line: int = 0

    @property
    def expected(self) -> str:
        if self.unanswerable:
            return "(decline: unanswerable)"
        parts = [" or ".join(self.docs)] if self.docs else []
        if self.answer:
            parts.append(f"containing {self.answer!r}")
        return " ".join(parts)


def normalize_path(path: str) -> str:
    path = path.strip().replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path.lstrip("/")


def normalize_text(text: str) -> str:
    """Case and whitespace do not matter when looking for an expected passage."""
    return _SPACE_RE.sub(" ", text).strip().casefold()


def parse_question(obj: object, line: int) -> GoldenQuestion:
    if not isinstance(obj, dict):
        raise QuestionsFileError(f"line {line}: expected a JSON object, got {type(obj).__name__}")
    question = obj.get("question")
    if not isinstance(question, str) or not question.strip():
        raise QuestionsFileError(f"line {line}: \"question\" must be a non-empty string")
    doc = obj.get("doc", obj.get("docs"))
    if doc is None:
        docs: tuple[str, ...] = ()
    elif isinstance(doc, str):
        docs = (normalize_path(doc),)
    elif isinstance(doc, list) and all(isinstance(d, str) for d in doc):
        docs = tuple(normalize_path(d) for d in doc)
    else:
        raise QuestionsFileError(f"line {line}: \"doc\" must be a path or a list of paths")
    blank = doc is not None and not any(docs)
    docs = tuple(d for d in docs if d)
    answer = obj.get("answer")
    if answer is not None and (not isinstance(answer, str) or not answer.strip()):
        raise QuestionsFileError(f"line {line}: \"answer\" must be a non-empty string")
    unanswerable = obj.get("unanswerable", False)
    if not isinstance(unanswerable, bool):
        raise QuestionsFileError(f"line {line}: \"unanswerable\" must be true or false")
    if blank and not unanswerable and answer is None:
        raise BlankExpectedDocument(f"line {line}: \"doc\" is blank")
    if not unanswerable and not docs and answer is None:
        raise QuestionsFileError(f"line {line}: give \"doc\" (or \"answer\"), or mark it \"unanswerable\": true")
    return GoldenQuestion(question=question.strip(), docs=docs, answer=answer, unanswerable=unanswerable,
                          line=line)


def parse_questions(lines: Iterable[str]) -> list[GoldenQuestion]:
    questions = []
    blank: list[int] = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as err:
            raise QuestionsFileError(f"line {number}: not valid JSON ({err.msg})") from None
        try:
            questions.append(parse_question(obj, number))
        except BlankExpectedDocument:
            blank.append(number)
    if blank:  # a `ragbot gaps --export` file as written: scoring it would say 0.000 and mean nothing
        where = ", ".join(str(n) for n in blank[:10]) + (" …" if len(blank) > 10 else "")
        raise QuestionsFileError(
            f"{len(blank)} question(s) have a blank \"doc\" (line {where}): the file needs the expected documents "
            "filled in: the path of the document that answers each, as `ragbot sources` lists it, or "
            "\"unanswerable\": true")
    if not questions:
        raise QuestionsFileError("no questions in the file")
    return questions


def load_questions(path: Path) -> list[GoldenQuestion]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise QuestionsFileError(f"cannot read {path}: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise QuestionsFileError(f"{path} is not UTF-8 text") from None
    try:
        return parse_questions(text.splitlines())
    except QuestionsFileError as err:
        raise QuestionsFileError(f"{path}: {err}") from None
