"""Answers written by a real model, scored the way a careful reader would (not a timed test).

The sample corpus (examples/docs) plus bench/answers/docs (a second contract that lacks clauses the first has,
an expense policy abroad, a Traditional Chinese leave rule and contract) is indexed; every question of
bench/answers/questions.jsonl goes through the whole answer path (`RagService.ask`) with llama.cpp's server
(tests/real_llm.py) behind LLM_API=openai. Kinds of question:
- fact: the documents state it; `facts` lists the figures/terms the answer must state (any one spelling of
  each group), `doc` the document it must cite;
- near_miss: the documents state a figure of the asked kind only for something else (another contract, another
  kind of leave); `wrong` lists those figures. The answer must not state one of them as the answer unflagged;
- unanswerable: nothing in the documents answers it.

Scores per answer (printed as shares; raw answers in bench/results/answers-<model>.jsonl):
- fact stated: every fact group appears in the answer text;
- right doc cited: `doc` is among the citations;
- evidence right: the quoted evidence of the cited `doc` holds one of the facts;
- figure false alarm: a figure flagged ⚠ that the right document states (on fact questions);
- declined: no answer, a near miss said plainly ("the documents state nothing for …"), or an answer that says
  the documents do not cover it; a near-miss answer that states a wrong figure without a ⚠ counts as misled.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from rag.language.cjk import CJK_RE  # noqa: E402
from rag.language.script import simplified_chars  # noqa: E402
from rag.language.textnorm import normalize  # noqa: E402
from tests.real_llm import DEFAULT_MODEL, MODELS, LlamaServer, unavailable_reason  # noqa: E402

QUESTIONS = ROOT / "bench" / "answers" / "questions.jsonl"
EXTRA_DOCS = ROOT / "bench" / "answers" / "docs"
RESULTS = ROOT / "bench" / "results"

# How answers say the documents are silent (English and Chinese), and the bot's own notices that say so.
_DECLINE = re.compile(
    r"(do(es)? not (cover|mention|state|say|specify|include|contain|provide)|not (covered|mentioned|stated|specified|"
    r"found)|no (information|mention)|couldn't find|could not find|cannot find|there is no|don't (cover|mention)|"
    r"未(提及|說明|規定|涵蓋|載明|提到)|沒有(提及|說明|規定|相關|提到)|找不到|並無|無相關|不包含|未包含|沒有這|無法回答|"
    r"nothing (about|for|on))",
    re.IGNORECASE,
)


def _has(text: str, options: list[str]) -> bool:
    norm = normalize(text).lower()
    return any(normalize(o).lower() in norm for o in options)


def declined(answer: dict) -> bool:
    """No answer, a near miss said plainly, or an answer that itself says the documents are silent (a ⚠ on a
    figure is not a decline: it is counted as a flag)."""
    if answer["mode"] == "no_answer" or answer.get("near_miss"):
        return True
    return bool(_DECLINE.search(answer["text"]))


def score(q: dict, a: dict, gold_text: str = "") -> dict:
    cited = [c["rel_path"] for c in a["citations"]]
    out: dict = {"id": q["id"], "kind": q["kind"], "declined": declined(a), "mode": a["mode"],
                 "flagged": a["unsupported_figures"], "seconds": a["generation_ms"] / 1000}
    if CJK_RE.search(q["question"]) and a["mode"] == "generated":
        out["zh_converted"] = a.get("script_converted", 0) > 0
        out["zh_simplified_left"] = bool(simplified_chars(a["text"]))
    if q["kind"] == "fact":
        out["fact_stated"] = all(_has(a["text"], group) for group in q["facts"])
        out["doc_cited"] = q["doc"] in cited
        evidence = " ".join(p["evidence"] or p["text"] for c in a["citations"] if c["rel_path"] == q["doc"]
                            for p in c["passages"])
        out["evidence_right"] = any(_has(evidence, group) for group in q["facts"])
        squash = normalize(gold_text).lower().replace(" ", "")
        out["false_alarm"] = any(normalize(f).lower().replace(" ", "") in squash for f in a["unsupported_figures"])
    elif q["kind"] == "near_miss":
        wrong_stated = _has(a["text"], q["wrong"])
        flagged = any(_has(f, q["wrong"]) for f in a["unsupported_figures"])
        out["misled"] = wrong_stated and not flagged and not out["declined"]
    return out


def summarise(rows: list[dict]) -> dict[str, str]:
    def share(kind: str, key: str) -> str:
        sel = [r for r in rows if r["kind"] == kind]
        if not sel:
            return "–"
        n = sum(1 for r in sel if r.get(key))
        return f"{100 * n / len(sel):.0f}% ({n}/{len(sel)})"

    facts = [r for r in rows if r["kind"] == "fact"]
    both = sum(1 for r in facts if r["fact_stated"] and r["doc_cited"])
    negatives = [r for r in rows if r["kind"] in ("near_miss", "unanswerable")]
    nm = [r for r in rows if r["kind"] == "near_miss"]
    alarms = sum(1 for r in rows if r.get("false_alarm"))
    return {
        "fact stated": share("fact", "fact_stated"),
        "right doc cited": share("fact", "doc_cited"),
        "fact stated and right doc cited": f"{100 * both / max(1, len(facts)):.0f}% ({both}/{len(facts)})",
        "evidence sentence right": share("fact", "evidence_right"),
        "figure false alarms (share of answers)": f"{100 * alarms / len(rows):.1f}% ({alarms}/{len(rows)})",
        "answerable wrongly declined": share("fact", "declined"),
        "near-miss declined or flagged": f"{100 * sum(1 for r in nm if not r['misled']) / max(1, len(nm)):.0f}% "
        f"({sum(1 for r in nm if not r['misled'])}/{len(nm)})",
        "unanswerable declined": share("unanswerable", "declined"),
        "near-miss + unanswerable not misled": f"{100 * sum(1 for r in negatives if (r['declined'] if r['kind'] == 'unanswerable' else not r['misled'])) / max(1, len(negatives)):.0f}%",  # noqa: E501
        "Chinese answers with Simplified converted": _count(rows, "zh_converted"),
        "Chinese answers with Simplified left": _count(rows, "zh_simplified_left"),
        "median generation s": f"{sorted(r['seconds'] for r in rows)[len(rows) // 2]:.1f}",
    }


def _count(rows: list[dict], key: str) -> str:
    judged = [r for r in rows if key in r]
    return f"{sum(1 for r in judged if r[key])}/{len(judged)}"


def answer_dict(answer: object) -> dict:
    data = asdict(answer)  # type: ignore[call-overload]
    for c in data["citations"]:
        c["modified"] = str(c["modified"])
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, choices=sorted(MODELS))
    parser.add_argument("--only", default="", help="comma-separated question ids or kinds")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--ctx", type=int, default=8192)
    parser.add_argument("--tag", default="", help="suffix of the results files")
    args = parser.parse_args()
    if reason := unavailable_reason(MODELS[args.model]):
        raise SystemExit(f"cannot run: {reason}")
    questions = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    if args.only:
        wanted = set(args.only.split(","))
        questions = [q for q in questions if q["id"] in wanted or q["kind"] in wanted]

    work = Path(tempfile.mkdtemp(prefix="bench-answers-"))
    docs = work / "docs"
    shutil.copytree(ROOT / "examples" / "docs", docs)
    shutil.copytree(EXTRA_DOCS, docs, dirs_exist_ok=True)
    load_before = os.getloadavg()
    with LlamaServer(MODELS[args.model], n_ctx=args.ctx, log_path=work / "llama.log") as server:
        from rag.config import load_settings
        from rag.ingest.documents.loading import load_document
        from rag.service import RagService

        settings = load_settings(docs_dir=docs, lancedb_uri=str(work / "index"), llm_api="openai",
                                 llm_base_url=server.base_url, llm_model=server.model, ollama_num_ctx=args.ctx)
        svc = RagService(settings)
        report = svc.sync(full=True)
        print(f"indexed {report.added} documents; model {server.model}; load {load_before[0]:.1f}", flush=True)
        rows, raw = [], []
        started = time.time()
        for run in range(args.runs):
            for q in questions:
                answer = answer_dict(svc.ask(q["question"], surface="cli"))
                gold = load_document(docs / q["doc"], docs).text if q.get("doc") else ""
                row = score(q, answer, gold)
                row["run"] = run
                rows.append(row)
                raw.append({"question": q, "answer": answer, "score": row})
                verdict = {k: v for k, v in row.items() if k not in ("id", "kind", "run", "seconds")}
                print(f"[{row['seconds']:5.1f}s] {q['id']}: {verdict}\n    {answer['text'][:300]!r}", flush=True)
    load_after = os.getloadavg()
    summary = summarise(rows)
    tag = f"-{args.tag}" if args.tag else ""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"answers-{args.model}{tag}.jsonl").write_text(
        "\n".join(json.dumps(r, ensure_ascii=False, default=str) for r in raw) + "\n")
    only = f" --only {args.only}" if args.only else ""
    lines = [f"bench/bench_answers.py --model {args.model} --runs {args.runs}{only}"
             f" ({len(rows)} answers, {time.time() - started:.0f} s; 2 llama.cpp threads, n_ctx {args.ctx}; "
             f"load {load_before[0]:.1f} before, {load_after[0]:.1f} after; {os.cpu_count()} cores)"]
    lines += [f"  {k:45s} {v}" for k, v in summary.items()]
    print("\n".join(lines))
    with (RESULTS / f"answers{tag}.txt").open("a") as f:
        f.write(time.strftime("%Y-%m-%d %H:%M ") + "\n".join(lines) + "\n\n")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
