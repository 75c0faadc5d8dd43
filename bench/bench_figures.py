"""How well the figure check catches a changed number, and how often it wrongly marks a correct answer.

A scripted model writes, for each question whose gold answer holds a figure, a correct answer: the
sentence of the source that contains the gold answer, with its figures rewritten the way a model
rewrites them (`3,200` → `3200`, `NT$3,200` → `3,200 元`, `30 日` → `三十日`, `90 days` → `ninety
days`, `2013-10-08` → `October 8, 2013`). A second answer is the same with ONE figure changed (a
digit off, doubled, a day shifted). Each answer is checked against what the pipeline would give
the model: the cited passage plus four passages of other documents.

  caught       = changed answers in which the changed figure is marked
  wrongly marked = correct answers in which any figure is marked

Sets: the sample corpus (examples/questions.jsonl, whole documents as the cited source) and the
questions of ../shared/eval (PolicyQA, DRCD) whose gold answer contains a digit.
Usage: python bench/bench_figures.py [--limit N] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.answering.figures import Figure, check_figures, extract_figures  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval"
_ZH = "零一二三四五六七八九"
_EN = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
       "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"]
_MONTH_NAMES = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
                "November", "December"]


@dataclass
class Case:
    answer: str  # the source sentence holding the gold answer
    sources: list[str]  # cited passage first, then the other passages given


def zh_numeral(n: int) -> str:
    if n < 10:
        return _ZH[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _ZH[tens]) + "十" + (_ZH[ones] if ones else "")


def paraphrase(fig: Figure, rng: random.Random) -> str:
    """How a model might write the same figure differently."""
    if isinstance(fig.value, date):
        d = fig.value
        return rng.choice([f"{_MONTH_NAMES[d.month - 1]} {d.day}, {d.year}", d.isoformat(),
                           f"{d.year}年{d.month}月{d.day}日"])
    if not isinstance(fig.value, float) or fig.value != int(fig.value):
        return fig.text
    n = int(fig.value)
    text = fig.text
    if "," in text:
        return text.replace(",", "")
    if fig.unit == "money" and re.match(r"^[A-Z]*\$", text):
        return f"{n:,} 元" if rng.random() < 0.5 else f"{n:,}"
    unit_word = re.sub(r"^[\d,.\s]+", "", text)
    if unit_word and unit_word[0] in "日天個月年週小時" and n <= 99 and text[0].isdigit():
        return zh_numeral(n) + unit_word
    if unit_word and unit_word[0].isascii() and unit_word[0].isalpha() and n <= 20 and text[0].isdigit():
        return f"{_EN[n]} {unit_word}"
    return text


def mutate(fig: Figure, rng: random.Random) -> str:
    """The same figure with a different value, as a careless model writes it."""
    if isinstance(fig.value, date):
        d = fig.value + timedelta(days=rng.choice([-3, -1, 1, 2, 7, 31]))
        return f"{_MONTH_NAMES[d.month - 1]} {d.day}, {d.year}"
    if isinstance(fig.value, str):  # VND-22 → VND-23; 第十二條 (value 第12條) → 第13條
        m = re.search(r"\d+", fig.value)
        return fig.value.replace(m.group(0), str(int(m.group(0)) + rng.choice([1, 2, 9]))) if m else fig.text + "1"
    n = fig.value
    new = rng.choice([n + 1, n - 1, n * 2, n + 10, round(n * 1.5)]) if n > 1 else n + rng.choice([1, 2, 4])
    if new == n or new < 0:
        new = n + 3
    number_part = re.match(
        r"^(?:[A-Z]*\$)?(?:[\d,.]+|[零〇一二兩三四五六七八九十百千萬]+|[A-Za-z -]+?(?= \(|\s|$))(?:\s*\([\d,.]+\))?\s*",
        fig.text)
    unit_text = fig.text[number_part.end():] if fig.unit and number_part else ""
    if fig.unit == "year" or 1000 < new < 2100:
        number = f"{new:.0f}"  # a year has no thousands separator
    else:
        number = f"{new:,.0f}" if new == int(new) else f"{new:g}"
    prefix = "NT$" if fig.unit == "money" and "$" in fig.text else ""
    return f"{prefix}{number}{' ' if unit_text and unit_text[0].isalpha() else ''}{unit_text}"


_BOUNDARY = re.compile(r"[。！？!?\n]|\.(?!\d)")


def sentence_around(text: str, start: int, end: int) -> str:
    """The sentence holding text[start:end] (a decimal point is not a sentence end)."""
    left = max((m.end() for m in _BOUNDARY.finditer(text, 0, start)), default=0)
    right = next((m.end() for m in _BOUNDARY.finditer(text, end)), len(text))
    return text[left:right].strip()


def sample_cases(limit: int, rng: random.Random) -> dict[str, list[Case]]:
    sets: dict[str, list[Case]] = {"sample corpus": []}
    docs = ROOT / "examples" / "docs"
    for line in (ROOT / "examples" / "questions.jsonl").read_text(encoding="utf-8").splitlines():
        q = json.loads(line)
        if not q.get("answer") or not re.search(r"\d|[一二三四五六七八九十]", q["answer"]):
            continue
        if not q["doc"].endswith((".md", ".txt")):
            continue  # binary formats: their text is the reader's, not the file's
        text = (docs / q["doc"]).read_text(encoding="utf-8")
        at = text.find(q["answer"])
        if at < 0:
            continue
        others = [p.read_text(encoding="utf-8")[:1500] for p in sorted(docs.rglob("*.md")) if p.name not in q["doc"]]
        sets["sample corpus"].append(Case(sentence_around(text, at, at + len(q["answer"])), [text, *others[:4]]))
    for name in ("policyqa", "drcd"):
        folder = EVAL / name
        if not folder.exists():
            print(f"note: {folder} not found, skipping {name}")
            continue
        passages: dict[str, list[dict]] = {}
        for line in (folder / "passages.jsonl").read_text(encoding="utf-8").splitlines():
            p = json.loads(line)
            passages.setdefault(p["doc_id"], []).append(p)
        doc_ids = sorted(passages)
        cases: list[Case] = []
        for line in (folder / "queries.jsonl").read_text(encoding="utf-8").splitlines():
            q = json.loads(line)
            if not any(re.search(r"\d", a) for a in q["answers"]):
                continue
            span = q["gold_spans"][0]
            gold = next((p for p in passages[span["doc_id"]] if p["start"] <= span["start"] < p["end"]), None)
            if gold is None:
                continue
            start, end = span["start"] - gold["start"], span["end"] - gold["start"]
            others = [rng.choice(passages[d])["text"] for d in rng.sample(doc_ids, 5) if d != span["doc_id"]][:4]
            cases.append(Case(sentence_around(gold["text"], start, end), [gold["text"], *others]))
        rng.shuffle(cases)
        sets[name] = cases[:limit]
    return sets


def rewrite(text: str, figs: list[Figure], choose) -> str:
    """Replace each figure's first occurrence (left to right) with choose(fig)."""
    out, pos = [], 0
    norm = unicodedata.normalize("NFKC", text)
    for fig in figs:
        at = norm.find(fig.text, pos)
        if at < 0:
            continue
        out.append(norm[pos:at])
        out.append(choose(fig))
        pos = at + len(fig.text)
    return "".join(out) + norm[pos:]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=300, help="questions per shared/eval set")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    rows = []
    misses: list[str] = []
    false_marks: list[str] = []
    for name, cases in sample_cases(args.limit, rng).items():
        caught = changed = wrong = correct = 0
        for case in cases:
            figs = extract_figures(case.answer)
            if not figs:
                continue
            answer = rewrite(case.answer, figs, lambda f: paraphrase(f, rng))
            correct += 1
            if check_figures(answer, case.sources).unsupported:
                wrong += 1
                false_marks.append(f"{name}: {answer[:160]!r} -> {check_figures(answer, case.sources).unsupported}")
            figs2 = extract_figures(answer)
            if not figs2:
                continue
            target = rng.randrange(len(figs2))
            bad_text = mutate(figs2[target], rng)
            bad = rewrite(answer, figs2, lambda f, t=figs2[target], b=bad_text: b if f is t else f.text)
            changed += 1
            flagged = {f.value for f in check_figures(bad, case.sources).unsupported}
            new_figs = {f.value for f in extract_figures(bad)} - {f.value for f in figs2}
            if flagged & new_figs:
                caught += 1
            else:
                misses.append(f"{name}: {figs2[target].text!r} -> {bad_text!r} in {bad[:140]!r}")
        rows.append((name, changed, caught, correct, wrong))
    print(f"{'set':<16}{'changed':>9}{'caught':>9}{'caught %':>10}{'correct':>9}{'marked':>8}{'wrongly %':>11}")
    for name, changed, caught, correct, wrong in rows:
        print(f"{name:<16}{changed:>9}{caught:>9}{100 * caught / max(changed, 1):>9.1f}%"
              f"{correct:>9}{wrong:>8}{100 * wrong / max(correct, 1):>10.1f}%")
    total_changed, total_caught = sum(r[1] for r in rows), sum(r[2] for r in rows)
    total_correct, total_wrong = sum(r[3] for r in rows), sum(r[4] for r in rows)
    print(f"{'all':<16}{total_changed:>9}{total_caught:>9}{100 * total_caught / max(total_changed, 1):>9.1f}%"
          f"{total_correct:>9}{total_wrong:>8}{100 * total_wrong / max(total_correct, 1):>10.1f}%")
    print("\nexamples of misses:", *misses[:8], sep="\n  ")
    print("\nexamples of wrong marks:", *false_marks[:8], sep="\n  ")


if __name__ == "__main__":
    main()
