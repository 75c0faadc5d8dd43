"""The evaluation sets, as documents on disk plus questions.

`policyqa` and `drcd` are the public sets in `../shared/eval/` (EVAL_DATA); `twlaw` is the Traditional
Chinese contract-like set kept in the repository (bench/quality/data/twlaw, made by build_twlaw.py).
Nothing of ../shared/eval is copied into the repository: the corpus folders are ingested where
they are, and subsets (the quick run's slice of DRCD, the refusal run's corpus
with held-out documents) are folders of copies under `bench/.work/`, made at
bench time. Copies keep the files' modification times so an index built from
the full corpus can be synced down to a subset without re-embedding anything.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = Path(os.environ.get("EVAL_DATA", ROOT.parent / "shared" / "eval"))
IN_REPO = Path(__file__).resolve().parent / "data"  # sets built from public data and kept here (CI has no network)


@dataclass(frozen=True)
class Span:
    doc_id: str
    start: int
    end: int


@dataclass(frozen=True)
class Query:
    qid: str
    question: str
    scoped: str  # the question prefixed with its document's name
    doc_ids: tuple[str, ...]
    spans: tuple[Span, ...]
    answers: tuple[str, ...]


@dataclass(frozen=True)
class Dataset:
    name: str
    language: str
    corpus: Path  # one <doc_id>.txt per document
    doc_ids: tuple[str, ...]
    queries: tuple[Query, ...]
    doc_level_scoped: bool  # generic questions need their document's name to be answerable at doc level

    @property
    def corpus_name(self) -> str:
        """What indexes are keyed by: sets asking other questions of one corpus share its index (twlaw-para)."""
        return self.corpus.parent.name

    def path_of(self, doc_id: str) -> str:
        """The document's path relative to the docs root, as the index stores it."""
        return f"{doc_id}.txt"

    def with_docs(self, doc_ids: set[str]) -> list[Query]:
        return [q for q in self.queries if set(q.doc_ids) <= doc_ids]


LANGUAGES = {"policyqa": "English", "drcd": "Traditional Chinese",
             "twlaw": "Traditional Chinese, regulations, template-built questions",
             "twlaw-para": "Traditional Chinese, regulations, paraphrased questions written by a real model",
             "twlabor": "Traditional Chinese, labour laws and regulations, paraphrased questions by a real model"}
SCOPED_AT_DOC_LEVEL = frozenset({"policyqa", "twlaw"})  # generic or boilerplate questions: the name disambiguates
PARAPHRASED = "paraphrased.jsonl"  # bench/quality/paraphrase.py: a real model's questions, checked


def load(name: str, data: Path = DEFAULT_DATA) -> Dataset:
    """`<set>-para` asks `<set>`'s corpus the paraphrased questions; a set without template questions
    (twlabor) has only those."""
    base = name.removesuffix("-para")
    folder = IN_REPO / base if (IN_REPO / base).is_dir() else data / base
    corpus = folder / "corpus"
    if not corpus.is_dir():
        raise SystemExit(f"evaluation data not found: {corpus} (set EVAL_DATA to the folder holding {base}/)")
    doc_ids = tuple(sorted(p.stem for p in corpus.glob("*.txt")))
    queries = []
    questions = folder / (PARAPHRASED if name != base or not (folder / "queries.jsonl").exists() else "queries.jsonl")
    with questions.open(encoding="utf-8") as handle:
        for line in handle:
            raw = json.loads(line)
            queries.append(Query(
                qid=raw["qid"], question=raw["question"], scoped=raw.get("question_scoped") or raw["question"],
                doc_ids=tuple(raw["gold_doc_ids"]),
                spans=tuple(Span(s["doc_id"], int(s["start"]), int(s["end"])) for s in raw["gold_spans"]),
                answers=tuple(a for a in raw.get("answers", []) if a),
            ))
    return Dataset(name=name, language=LANGUAGES.get(name, "?"), corpus=corpus, doc_ids=doc_ids,
                   queries=tuple(queries), doc_level_scoped=name in SCOPED_AT_DOC_LEVEL)


def sample(items: list[Query], n: int | None, seed: int) -> list[Query]:
    """A fixed, seeded sample (the same questions on every run and machine)."""
    if n is None or n >= len(items):
        return list(items)
    return sorted(random.Random(seed).sample(items, n), key=lambda q: q.qid)


def pick_docs(doc_ids: tuple[str, ...], n: int | None, seed: int) -> tuple[str, ...]:
    if n is None or n >= len(doc_ids):
        return doc_ids
    return tuple(sorted(random.Random(seed).sample(list(doc_ids), n)))


def split_held_out(doc_ids: tuple[str, ...], share: float, seed: int) -> tuple[set[str], set[str]]:
    """(kept, held out): the held-out documents' questions become unanswerable."""
    shuffled = list(doc_ids)
    random.Random(seed).shuffle(shuffled)
    cut = max(1, round(len(shuffled) * share))
    return set(shuffled[cut:]), set(shuffled[:cut])


def docs_folder(ds: Dataset, doc_ids: set[str] | tuple[str, ...], work: Path, label: str) -> Path:
    """The corpus itself when all documents are wanted, else a folder of copies (mtimes kept)."""
    wanted = set(doc_ids)
    if wanted == set(ds.doc_ids):
        return ds.corpus
    target = work / "docs" / f"{ds.corpus_name}-{label}"
    present = {p.stem for p in target.glob("*.txt")} if target.is_dir() else set()
    if present != wanted:
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for doc_id in sorted(wanted):
            shutil.copy2(ds.corpus / ds.path_of(doc_id), target / ds.path_of(doc_id))
    return target
