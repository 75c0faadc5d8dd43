"""Paraphrased and situational questions written by a real model, each checked against its gold clause.

twlaw's template questions reuse the article's own words, so they cannot show whether retrieval survives
a user's wording (過世 for 喪亡, 撿到 for 拾得). Here a real model (Qwen2.5-Coder-1.5B-Instruct Q4_K_M on
llama.cpp, `tests/real_llm.py`; the only one that runs here) rewrites one article at a time as a layperson's
question, with three hand-written examples of the rewrite (clauses of laws that are in neither corpus'
selection: 勞基法-style leave, 民法's lost property, an insurance surrender) and a JSON reply holding the
question and the shortest verbatim excerpt of the article that answers it. Generation is done once and
cached (`paraphrased.raw.jsonl`, one line per article asked, model output as it came); `check` keeps a
question only when a rule says the gold clause still answers it:

- the answer (2–60 characters, spaces and punctuation ignored) is the clause's: it occurs in the article, or
  its figures all do and `ANSWER_IN_CLAUSE` of its bigrams (the model often shortens what it copies); the
  question does not contain it (it does not give its answer away);
- the question shares **key terms** with the article: CJK bigrams outside the question words that occur in at
  most `KEY_TERM_DF` of the corpus' documents (it is about this clause, not about 本法 or 主管機關), two of
  them or one inside a three-character run the article has too (one bigram can be chance: 收到保險 → 到保);
- it is a paraphrase: at most `MAX_OVERLAP` of its content bigrams occur in the article (a copied clause
  is dropped), and it does not name the regulation (no 4-character run of its title);
- 8–80 characters, Traditional Chinese (the model's Simplified characters are converted with OpenCC s2twp
  first, as the bot does: `opencc` is a dependency).

Articles asked: 30–400 characters, not deleted, whose text (本法/本辦法… unified) is in one document only
(a shared clause could be any document's), seeded, one per document before a second. The plain question is
used at every level (it does not name the regulation): document recall measures whether retrieval finds
the clause from a user's words.

    python -m bench.quality.paraphrase generate twlaw --limit 150   # needs the real model (make setup-llm)
    python -m bench.quality.paraphrase check twlaw                   # writes paraphrased.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.quality.build_twlaw import unified

DATA = Path(__file__).resolve().parent / "data"
SEED = 20261205
KEY_TERM_DF = 0.15
MAX_OVERLAP = 0.75
ANSWER_IN_CLAUSE = 0.7
_FIGURE = re.compile(r"[0-9０-９]+|[零〇一二三四五六七八九十百千萬兩]{1,8}")
MIN_ARTICLE, MAX_ARTICLE = 30, 400
_ARTICLE = re.compile(r"^(第 [^\n]+ 條)\n(.+?)(?=\n\n|\Z)", re.MULTILINE | re.DOTALL)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")
_PLAIN = re.compile(r"[\W_]+")

SYSTEM = ("你把法規條文改寫成一般民眾會問的口語問題。規則：問題的答案必須在條文裡；不要照抄條文的詞，"
          "把法律用語換成日常說法（例如「喪亡」說成「過世」、「給予」說成「可以請」、「拾得」說成「撿到」）；"
          "可以用「我」描述自己的處境；不要提法規名稱或條號。只輸出一行 JSON："
          "{\"question\": \"問題\", \"answer\": \"從條文逐字複製、回答問題的最短片段\"}。")
SHOTS = (
    ("條文：勞工之父母、養父母、繼父母、配偶喪亡者，給予喪假八日，工資照給。",
     {"question": "我爸爸過世了，公司可以讓我請幾天假？薪水照領嗎？", "answer": "八日"}),
    ("條文：拾得遺失物者，應於七日內通知遺失人或報告警察機關，並將其物交存。",
     {"question": "我在路上撿到別人的錢包，要在多久以內交給警察？", "answer": "七日內"}),
    ("條文：要保人得隨時終止保險契約，保險人應於接到通知後一個月內返還未滿期保險費。",
     {"question": "我不想再保了，退保以後保險公司要多久把沒用完的保費退給我？", "answer": "一個月內"}),
)
QUESTION_STOP = ("什麼", "甚麼", "哪些", "哪個", "多少", "多久", "如何", "怎麼", "怎樣", "是否", "可以", "需要",
                 "應該", "要不要", "嗎", "呢", "請問", "如果", "的話")


@dataclass(frozen=True)
class Article:
    doc_id: str
    title: str
    label: str  # 第 N 條
    text: str
    start: int
    end: int

    @property
    def qid(self) -> str:
        return f"{self.doc_id}-{self.label.replace(' ', '')}"


def articles(corpus: Path) -> dict[str, list[Article]]:
    """Every article of every document, with its span (the layout build_twlaw.render writes)."""
    out: dict[str, list[Article]] = {}
    for path in sorted(corpus.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        title = text.split("\n", 1)[0].strip()
        out[path.stem] = [Article(path.stem, title, m.group(1), m.group(2), m.start(2), m.end(2))
                          for m in _ARTICLE.finditer(text)]
    return out


def candidates(by_doc: dict[str, list[Article]], seed: int = SEED) -> list[Article]:
    """Articles worth asking about, seeded: one per document first, then a second, and so on."""
    docs_of = Counter()
    for arts in by_doc.values():
        docs_of.update({unified(a.text) for a in arts})
    rng = random.Random(seed)
    pools = []
    for doc_id in sorted(by_doc):
        pool = [a for a in by_doc[doc_id] if MIN_ARTICLE <= len(a.text) <= MAX_ARTICLE
                and "刪除" not in a.text[:6] and docs_of[unified(a.text)] == 1
                and not re.match(r"^本\w{1,3}(?:依.+?規定訂定|自.+?施行)", a.text)]
        rng.shuffle(pool)
        pools.append(pool)
    rng.shuffle(pools)
    ordered = []
    for round_ in range(max((len(p) for p in pools), default=0)):
        ordered += [p[round_] for p in pools if round_ < len(p)]
    return ordered


def messages(article: Article) -> list[dict[str, str]]:
    msgs = [{"role": "system", "content": SYSTEM}]
    for user, reply in SHOTS:
        msgs += [{"role": "user", "content": user},
                 {"role": "assistant", "content": json.dumps(reply, ensure_ascii=False)}]
    return msgs + [{"role": "user", "content": f"條文（出自《{article.title}》）：{article.text}"}]


def generate(name: str, limit: int, base_url: str | None) -> None:
    import httpx

    folder = DATA / name
    raw_path = folder / "paraphrased.raw.jsonl"
    done = {json.loads(line)["qid"] for line in raw_path.open(encoding="utf-8")} if raw_path.exists() else set()
    todo = [a for a in candidates(articles(folder / "corpus")) if a.qid not in done][:max(0, limit - len(done))]
    server = None
    if base_url is None:
        from tests.real_llm import LlamaServer

        server = LlamaServer(n_ctx=4096).start()
        base_url = server.base_url
    try:
        with raw_path.open("a", encoding="utf-8") as out:
            for i, article in enumerate(todo, 1):
                started = time.perf_counter()
                reply = httpx.post(f"{base_url}/chat/completions", timeout=600, json={
                    "model": "qwen2.5-coder-1.5b-instruct-q4_k_m", "messages": messages(article),
                    "temperature": 0.7, "seed": SEED, "max_tokens": 100}).json()
                content = reply["choices"][0]["message"]["content"]
                out.write(json.dumps({"qid": article.qid, "doc_id": article.doc_id, "article": article.label,
                                      "output": content, "seconds": round(time.perf_counter() - started, 1)},
                                     ensure_ascii=False) + "\n")
                out.flush()
                print(f"{name} {i}/{len(todo)} {article.qid} {time.perf_counter() - started:.0f}s {content[:80]}",
                      flush=True)
    finally:
        if server:
            server.stop()


def plain(text: str) -> str:
    return _PLAIN.sub("", text)


def bigrams(text: str) -> set[str]:
    out = set()
    for run in _CJK.findall(text):
        out.update(run[i:i + 2] for i in range(len(run) - 1))
    return out


def content_bigrams(question: str) -> set[str]:
    for word in QUESTION_STOP:
        question = question.replace(word, "，")
    return bigrams(question)


def parse_output(content: str) -> dict[str, str] | None:
    match = re.search(r"\{.*\}", content, re.DOTALL)
    if not match:
        return None
    try:
        obj = json.loads(match.group(0))
    except json.JSONDecodeError:
        return None
    q, a = obj.get("question"), obj.get("answer")
    return {"question": q.strip(), "answer": a.strip()} if isinstance(q, str) and isinstance(a, str) else None


def judge(question: str, answer: str, article: Article, df: Counter, n_docs: int) -> tuple[str | None, dict]:
    """Why the question is rejected (None: kept), and what was measured."""
    content = content_bigrams(question)
    in_article = bigrams(article.text)
    key_terms = sorted(b for b in content & in_article if df[b] <= KEY_TERM_DF * n_docs)
    overlap = len(content & in_article) / len(content) if content else 1.0
    facts = {"overlap": round(overlap, 2), "key_terms": key_terms}
    if not 8 <= len(question) <= 80:
        return "length", facts
    if not 2 <= len(plain(answer)) <= 60 or not answer_in(answer, article.text):
        return "answer not in the clause", facts
    if plain(answer) in plain(question):
        return "question gives the answer", facts
    runs = "".join(f"{r}，" for r in _CJK.findall(question))
    three = any(runs[i:i + 3] in article.text and {runs[i:i + 2], runs[i + 1:i + 3]} & set(key_terms)
                for i in range(len(runs) - 2) if "，" not in runs[i:i + 3])
    if not key_terms or (len(key_terms) < 2 and not three):
        return "no key term of the clause", facts
    if overlap > MAX_OVERLAP:
        return "copies the clause", facts
    title = plain(article.title)
    if any(title[i:i + 4] in question for i in range(len(title) - 3)):
        return "names the regulation", facts
    return None, facts


def answer_in(answer: str, clause: str) -> bool:
    """The clause holds the answer: verbatim, or its figures and most of its wording."""
    if plain(answer) in plain(clause):
        return True
    found = bigrams(answer)
    figures = _FIGURE.findall(answer)
    return (bool(found) and len(found & bigrams(clause)) >= ANSWER_IN_CLAUSE * len(found)
            and all(f in clause for f in figures))


def check(name: str) -> None:
    import opencc

    folder = DATA / name
    by_doc = articles(folder / "corpus")
    index = {a.qid: a for arts in by_doc.values() for a in arts}
    df: Counter[str] = Counter()
    for arts in by_doc.values():
        df.update(set().union(*(bigrams(a.text) for a in arts)) if arts else set())
    to_tw = opencc.OpenCC("s2twp")
    kept, why = [], Counter()
    for line in (folder / "paraphrased.raw.jsonl").open(encoding="utf-8"):
        raw = json.loads(line)
        article = index[raw["qid"]]
        parsed = parse_output(raw["output"])
        if parsed is None:
            why["no JSON reply"] += 1
            continue
        question = to_tw.convert(parsed["question"])
        reason, facts = judge(question, parsed["answer"], article, df, len(by_doc))
        if reason:
            why[reason] += 1
            continue
        kept.append({"qid": f"{name}-para-{article.qid}", "question": question, "question_scoped": question,
                     "gold_doc_ids": [article.doc_id],
                     "gold_spans": [{"doc_id": article.doc_id, "start": article.start, "end": article.end}],
                     "answers": [parsed["answer"]], "article": article.label, "kind": "paraphrased", **facts})
    with (folder / "paraphrased.jsonl").open("w", encoding="utf-8") as out:
        for q in sorted(kept, key=lambda q: q["qid"]):
            out.write(json.dumps(q, ensure_ascii=False) + "\n")
    total = len(kept) + sum(why.values())
    print(f"{name}: {len(kept)} of {total} kept; rejected: {dict(why.most_common())}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("generate", "check"))
    parser.add_argument("sets", help="comma-separated set folders under bench/quality/data (twlaw,twlabor)")
    parser.add_argument("--limit", type=int, default=150, help="articles asked per set, in all (cached ones count)")
    parser.add_argument("--base-url", help="an OpenAI-compatible server already running (default: start one)")
    args = parser.parse_args(argv)
    for name in args.sets.split(","):
        if args.action == "generate":
            generate(name, args.limit, args.base_url)
        else:
            check(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
