"""Build `bench/quality/data/twlabor/`: Taiwan's labour laws and regulations, the second contract-like corpus.

Why: company policies (leave, wages, overtime, pensions, occupational safety) restate these rules, so they are
what our users' questions are about (父母過世可以請幾天喪假？ is 勞工請假規則 第 3 條). Same public source and
licence as twlaw (kong0107/mojLawSplitJSON at `build_twlaw.SOURCE_COMMIT`; not copyrightable, Copyright Act
art. 9), a different corpus: the Ministry of Labor's category (PCode N…: 勞動基準法, 勞工請假規則, 性別平等工作法,
勞工保險條例, 職業安全衛生 standards, …), laws as well as regulations, none of them in twlaw.

    python -m bench.quality.build_twlabor /path/to/mojLawSplitJSON.git

Documents: every labour law or regulation in force with at least 4 articles and 500–25,000 characters
(218 at that commit), rendered like twlaw's (`build_twlaw.render`). There are no template questions: the
questions are written by a real model and checked (bench/quality/paraphrase.py → `paraphrased.jsonl`).
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.quality.build_twlaw import SOURCE_REPO, read_source, render, source_arguments

OUT = Path(__file__).resolve().parent / "data" / "twlabor"
TWLAW = Path(__file__).resolve().parent / "data" / "twlaw" / "corpus"
MIN_CHARS, MAX_CHARS, MIN_ARTICLES = 500, 25_000, 4


def main() -> None:
    args, git_dir = source_arguments(__doc__.splitlines()[0], OUT)
    in_twlaw = {p.stem for p in TWLAW.glob("*.txt")}
    laws = sorted((law for law in read_source(git_dir, args.commit)
                   if law.pcode.startswith("N") and law.pcode not in in_twlaw
                   and MIN_CHARS <= law.chars <= MAX_CHARS and len(law.articles) >= MIN_ARTICLES),
                  key=lambda law: law.pcode)
    corpus = args.out / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for old in corpus.glob("*.txt"):
        old.unlink()
    spans = {}
    for law in laws:
        text, law_spans = render(law)
        spans[law.pcode] = {label: list(span) for label, span in law_spans.items()}
        (corpus / f"{law.pcode}.txt").write_text(text, encoding="utf-8")
    (args.out / "articles.json").write_text(json.dumps(spans, ensure_ascii=False, sort_keys=True) + "\n",
                                            encoding="utf-8")
    (args.out / "SOURCE.json").write_text(json.dumps({
        "source": f"https://github.com/{SOURCE_REPO}", "commit": args.commit, "folder": "FalVMingLing/",
        "selection": f"PCode N… (Ministry of Labor), in force, {MIN_ARTICLES}+ articles, {MIN_CHARS}-{MAX_CHARS} "
                     "characters, not in twlaw",
        "license": "Taiwan Copyright Act art. 9: laws and regulations are not subject to copyright",
        "built_by": "python -m bench.quality.build_twlabor", "documents": len(laws),
        "characters": sum(law.chars for law in laws),
    }, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{len(laws)} documents → {args.out}")


if __name__ == "__main__":
    main()
