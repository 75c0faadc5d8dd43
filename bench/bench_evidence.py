"""How often the quoted evidence is the sentence that holds the answer (rag/answering/evidence.py), English and Chinese.

For each question of PolicyQA (English) and DRCD (Traditional Chinese) with a gold answer span: the
"cited passage" is the ~900 characters of the gold document around the span, and the "claim" is what a
model writes: the question's words plus the answer. The evidence is right when the chosen sentence (after
trimming to 200 characters) contains the gold answer. Compared side by side with the baseline a source
line could show without matching: the passage's first sentence.

    python bench/bench_evidence.py        # writes bench/results/evidence.txt
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.quality.datasets import load  # noqa: E402
from rag.answering.evidence import EVIDENCE_CHARS, best_sentence, split_sentences  # noqa: E402

WINDOW = 450  # characters each side of the answer span: about one chunk
RESULTS = ROOT / "bench" / "results" / "evidence.txt"


def main() -> None:
    lines = [f"evidence = best-matching sentence of a ~{2 * WINDOW}-character passage, trimmed to {EVIDENCE_CHARS}"]
    for name in ("policyqa", "drcd"):
        ds = load(name)
        texts: dict[str, str] = {}
        right = first = total = 0
        spent = 0.0
        for q in ds.queries:
            if not q.spans or not q.answers:
                continue
            span = q.spans[0]
            text = texts.setdefault(span.doc_id, (ds.corpus / ds.path_of(span.doc_id)).read_text(encoding="utf-8"))
            answer = text[span.start:span.end]
            start = max(0, span.start - WINDOW)
            passage = text[start:span.end + WINDOW]
            claim = f"{q.question} {answer}"
            started = time.perf_counter()
            evidence, _ = best_sentence(passage, [claim])
            spent += time.perf_counter() - started
            total += 1
            right += answer.strip() in evidence
            opening = split_sentences(passage)[0] if split_sentences(passage) else ""
            first += answer.strip() in opening[:EVIDENCE_CHARS]
        lines.append(f"{name} ({ds.language}): {total} questions; evidence holds the answer {100 * right / total:.1f}% "
                     f"(first sentence: {100 * first / total:.1f}%); {1e6 * spent / total:.0f} µs per passage")
    RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
