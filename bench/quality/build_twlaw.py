"""Build `bench/quality/data/twlaw/`: a Traditional Chinese contract-like evaluation set from Taiwan's laws.

Why this source: laws and regulations are not copyrightable in Taiwan (Copyright Act art. 9), they are
published as structured data, and administrative regulations share boilerplate articles almost word for
word across documents (the same difficulty as standard clauses recurring across insurance policies).
The government's "定型化契約應記載及不得記載事項" are administrative rules (行政規則) and are not in this
dump, so the contract-like part is insurance, banking, trust, consumer and personal-data regulations.

Source: the public GitHub repository kong0107/mojLawSplitJSON (a JSON split of the Ministry of Justice's
national law database, law.moj.gov.tw), folder `FalVMingLing/`, at commit `SOURCE_COMMIT` (update date
2024-10-11). Run with the path of a clone (a bare clone works):

    python -m bench.quality.build_twlaw /path/to/mojLawSplitJSON.git

Everything below is deterministic (seed `SEED`): the same source commit gives byte-identical output.

Documents (`corpus/<PCode>.txt`): the regulation's name as the first line, then each chapter heading and
each article as `第 N 條` on its own line followed by the article's text (line breaks kept), so a chunk's
section names the article. Regulations marked abolished (廢止) are skipped. Selection, per group, of
regulations whose text is between MIN_CHARS and MAX_CHARS characters (seeded sample where a group is larger
than its quota): see `GROUPS`.

Questions (`queries.jsonl`, same fields as ../shared/eval): there is no human question set, so each is
made from one article by a fixed template (see `question_for`): a number before 日/個月/年 becomes 幾, a fine
becomes 多少罰鍰, `X，指Y` becomes X是指什麼, a `下列` list becomes 哪些, the enactment and commencement
boilerplate become 依據什麼規定訂定 / 何時施行; otherwise the article's first clause is asked with 有何規定.
`本法/本辦法/本細則…` is kept in the plain `question` (a user who does not name the regulation) and the
scoped form names it the way a user would, by its distinctive part without the generic tail (`short_name`:
保險業資產管理自律規範管理辦法 → 保險業資產管理自律規範, 消防法施行細則 → 消防法細則):
`依<short name>，<question>` (like PolicyQA's `question_scoped`). Gold: the document and
the character span of the article's text. A share of the questions (BOILERPLATE_SHARE) is drawn from
articles whose text (with 本法/本辦法… unified) recurs in at least BOILERPLATE_MIN_DOCS selected
documents: only the regulation's name tells them apart.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

SOURCE_REPO = "kong0107/mojLawSplitJSON"
SOURCE_COMMIT = "0d26e6c7c759821bbb6465162ffe149af5aed203"
SEED = 20241011
OUT = Path(__file__).resolve().parent / "data" / "twlaw"
MIN_CHARS, MAX_CHARS = 300, 7000
BOILERPLATE_MIN_DOCS = 3
BOILERPLATE_SHARE = 0.3
QUESTIONS_PER_DOC = 2  # at most, distinct articles

# (label, quota, test on (name, article texts)); a regulation is in the first group it matches.
GROUPS: list[tuple[str, int]] = [
    ("insurance", 110),       # name contains 保險
    ("personal-data", 45),    # security-plan regulations under 個人資料保護法 art. 27(3)
    ("banking-trust-consumer", 60),  # name contains 銀行, 信託, 消費, 契約, 租賃, 金融, 票券
    ("fees", 30),             # enacted under 規費法 (fee schedules)
    ("funds", 30),            # 基金收支保管及運用辦法
    ("enforcement-rules", 45),  # 施行細則
]

_SHORT_FORMS = re.compile(r"本(法|細則|辦法|規則|準則|標準|條例|要點|規程|辦法)")
_CN_NUM = "零〇一二三四五六七八九十百千兩"


@dataclass
class Law:
    pcode: str
    name: str
    items: list[tuple[str, str]]  # ("chapter" | article label, text)

    @property
    def articles(self) -> list[tuple[str, str]]:
        return [(label, text) for label, text in self.items if label != "chapter"]

    @property
    def chars(self) -> int:
        return sum(len(t) for _, t in self.articles)


def group_of(law: Law) -> str | None:
    name, body = law.name, "".join(t for _, t in law.articles)
    if "保險" in name:
        return "insurance"
    if "個人資料保護法" in body and "第二十七條第三項" in body:
        return "personal-data"
    if any(k in name for k in ("銀行", "信託", "消費", "契約", "租賃", "金融", "票券")):
        return "banking-trust-consumer"
    if "規費法" in body and ("收費" in name or "費" in name):
        return "fees"
    if "基金" in name and "收支保管及運用辦法" in name:
        return "funds"
    if name.endswith("施行細則"):
        return "enforcement-rules"
    return None


def read_source(git_dir: Path, commit: str) -> list[Law]:
    listing = subprocess.run(["git", "--git-dir", str(git_dir), "ls-tree", "--name-only", commit, "FalVMingLing/"],
                             check=True, capture_output=True, text=True).stdout.split()
    batch = subprocess.run(["git", "--git-dir", str(git_dir), "cat-file", "--batch"],
                           input="".join(f"{commit}:{p}\n" for p in listing).encode(), check=True,
                           capture_output=True).stdout
    laws, pos = [], 0
    for path in listing:
        header_end = batch.index(b"\n", pos)
        size = int(batch[pos:header_end].split()[2])
        raw = batch[header_end + 1: header_end + 1 + size]
        pos = header_end + 1 + size + 1
        data = json.loads(raw.decode("utf-8-sig"))
        if data.get("廢止註記") == "廢":
            continue
        items = []
        for entry in data.get("法規內容", []):
            if "條號" in entry:
                items.append((" ".join(entry["條號"].split()), entry["條文內容"].replace("\r\n", "\n").strip()))
            elif "編章節" in entry:
                items.append(("chapter", " ".join(entry["編章節"].split())))
        laws.append(Law(Path(path).stem, data["法規名稱"].strip(), items))
    return laws


def select(laws: list[Law]) -> list[Law]:
    rng = random.Random(SEED)
    by_group: dict[str, list[Law]] = {label: [] for label, _ in GROUPS}
    for law in sorted(laws, key=lambda x: x.pcode):
        if MIN_CHARS <= law.chars <= MAX_CHARS and len(law.articles) >= 3:
            group = group_of(law)
            if group:
                by_group[group].append(law)
    chosen: list[Law] = []
    for label, quota in GROUPS:
        members = by_group[label]
        chosen += members if len(members) <= quota else rng.sample(members, quota)
    return sorted(chosen, key=lambda x: x.pcode)


def render(law: Law) -> tuple[str, dict[str, tuple[int, int]]]:
    """The document's text and each article's text span in it."""
    parts, spans, pos = [], {}, 0

    def add(text: str) -> int:
        nonlocal pos
        start = pos
        parts.append(text)
        pos += len(text)
        return start

    add(f"{law.name}\n\n")
    for label, text in law.items:
        if label == "chapter":
            add(f"{text}\n\n")
            continue
        add(f"{label}\n")
        start = add(text)
        spans[label] = (start, start + len(text))
        add("\n\n")
    return "".join(parts), spans


_GENERIC_TAILS = ("收支保管及運用辦法", "管理辦法", "實施辦法", "處理辦法", "設置辦法", "作業辦法", "收費標準",
                  "辦法", "規則", "準則", "標準", "條例", "規程")


def short_name(name: str) -> str:
    """How a user names a regulation: without its generic tail, when enough is left to identify it."""
    if name.endswith("施行細則") and len(name) > 6:
        return name[:-4] + "細則"
    for tail in _GENERIC_TAILS:
        if name.endswith(tail) and len(name) - len(tail) >= 4:
            return name[: -len(tail)]
    return name


def unified(text: str) -> str:
    return _SHORT_FORMS.sub("本X", re.sub(r"\s+", "", text))


# -- question templates ------------------------------------------------------------------------------
_NUMBER_UNIT = re.compile(rf"([{_CN_NUM}\d]+)(個月|日|年|小時|天)")
_FINE = re.compile(r"處新臺幣[^，。；]*?罰鍰")
_DEFINITION = re.compile(r"^(?:本\w{1,3}所稱)?([^，。；：]{2,20})，(?:係)?指")
_LIST = re.compile(r"^([^。；：]{4,40}?)下列(\w{0,8}?)(?:之一)?[：:]")
_ENACTED = re.compile(r"^本\w{1,3}依(.+?)規定訂定之")
_COMMENCE = re.compile(r"^本\w{1,3}(?:自|施行日期)")
_CLAUSE_END = re.compile(r"[，。；：]")
_ENUMERATION = re.compile(r"^(?:[一二三四五六七八九十]+、|（[一二三四五六七八九十]+）|\d+[.、])")


def _clause_around(text: str, start: int, end: int) -> tuple[int, int]:
    left = max((m.end() for m in _CLAUSE_END.finditer(text, 0, start)), default=0)
    right = _CLAUSE_END.search(text, end)
    return left, right.start() if right else len(text)


def question_for(text: str, rng: random.Random) -> str | None:
    """One question from an article's text, or None when no template fits (deleted or tiny articles)."""
    question = _template(text.replace("\n", ""), rng)
    return _ENUMERATION.sub("", question) if question else None


def _template(flat: str, rng: random.Random) -> str | None:
    if "刪除" in flat[:6] or len(flat) < 10:
        return None
    if _ENACTED.match(flat):
        subject = flat[:flat.index("依")]
        return f"{subject}是依據哪一條規定訂定的？"
    if _COMMENCE.match(flat):
        return f"{flat[:3]}何時施行？" if rng.random() < 0.5 else f"{flat[:3]}從什麼時候開始施行？"
    if m := _DEFINITION.match(flat):
        return f"{m.group(1)}是指什麼？"
    if m := _FINE.search(flat):
        left, _ = _clause_around(flat, m.start(), m.end())
        lead = flat[max(0, left - 40):m.start()].lstrip("，；")
        return f"{lead[-40:]}處多少罰鍰？"
    if m := _LIST.match(flat):
        return f"{m.group(1)}哪些{m.group(2)}？".replace("有哪些", "有哪些")
    if m := _NUMBER_UNIT.search(flat):
        left, right = _clause_around(flat, m.start(), m.end())
        clause = _ENUMERATION.sub("", flat[left:m.start()]) + "幾" + m.group(2) + flat[m.end():right]
        if len(clause) >= 8:
            return f"{clause[:50]}？"
    first = _CLAUSE_END.split(flat)[0]
    if len(first) < 6:
        return None
    return f"{first[:40]}，有何規定？" if rng.random() < 0.5 else f"關於{first[:40]}，如何規定？"


def build_questions(laws: list[Law], spans: dict[str, dict[str, tuple[int, int]]]) -> list[dict]:
    rng = random.Random(SEED + 1)
    recurring = Counter()
    for law in laws:
        recurring.update({unified(t) for _, t in law.articles})
    pool_boiler, pool_specific = [], []
    for law in laws:
        for label, text in law.articles:
            kind = pool_boiler if recurring[unified(text)] >= BOILERPLATE_MIN_DOCS else pool_specific
            kind.append((law, label, text))
    rng.shuffle(pool_boiler)
    rng.shuffle(pool_specific)
    per_doc: Counter[str] = Counter()
    asked: set[tuple[str, str]] = set()
    target = QUESTIONS_PER_DOC * len(laws)
    out: list[dict] = []

    def take(pool: list, quota: int, tag: str) -> None:
        taken = 0
        for law, label, text in pool:
            if taken >= quota:
                return
            if per_doc[law.pcode] >= QUESTIONS_PER_DOC or (law.pcode, label) in asked:
                continue
            question = question_for(text, rng)
            if question is None:
                continue
            start, end = spans[law.pcode][label]
            prefix = rng.choice(("依{}，", "{}裡，", "關於{}："))
            out.append({
                "qid": f"twlaw-{law.pcode}-{label.replace(' ', '')}",
                "question": question,
                "question_scoped": prefix.format(short_name(law.name)) + question,
                "gold_doc_ids": [law.pcode],
                "gold_spans": [{"doc_id": law.pcode, "start": start, "end": end}],
                "answers": [],
                "article": label,
                "kind": tag,
                "recurs_in_docs": recurring[unified(text)],
            })
            per_doc[law.pcode] += 1
            asked.add((law.pcode, label))
            taken += 1

    take(pool_boiler, round(target * BOILERPLATE_SHARE), "boilerplate")
    take(pool_specific, target - len(out), "specific")
    return sorted(out, key=lambda q: q["qid"])


def source_arguments(description: str, out: Path) -> tuple[argparse.Namespace, Path]:
    """The command line of a set built from mojLawSplitJSON (this one, build_twlabor): its args and git folder."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("source", type=Path, help=f"a clone of github.com/{SOURCE_REPO} (bare or not)")
    parser.add_argument("--commit", default=SOURCE_COMMIT)
    parser.add_argument("--out", type=Path, default=out)
    args = parser.parse_args()
    return args, args.source / ".git" if (args.source / ".git").exists() else args.source


def main() -> None:
    args, git_dir = source_arguments(__doc__.splitlines()[0], OUT)
    laws = select(read_source(git_dir, args.commit))
    corpus = args.out / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for old in corpus.glob("*.txt"):
        old.unlink()
    spans = {}
    for law in laws:
        text, spans[law.pcode] = render(law)
        (corpus / f"{law.pcode}.txt").write_text(text, encoding="utf-8")
    questions = build_questions(laws, spans)
    with (args.out / "queries.jsonl").open("w", encoding="utf-8") as handle:
        for q in questions:
            handle.write(json.dumps(q, ensure_ascii=False) + "\n")
    groups = Counter(group_of(law) for law in laws)
    kinds = Counter(q["kind"] for q in questions)
    (args.out / "SOURCE.json").write_text(json.dumps({
        "source": f"https://github.com/{SOURCE_REPO}", "commit": args.commit, "folder": "FalVMingLing/",
        "license": "Taiwan Copyright Act art. 9: laws and regulations are not subject to copyright",
        "built_by": "python -m bench.quality.build_twlaw", "seed": SEED, "documents": len(laws),
        "groups": dict(groups), "questions": len(questions), "question_kinds": dict(kinds),
    }, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{len(laws)} documents {dict(groups)}, {len(questions)} questions {dict(kinds)} → {args.out}")


if __name__ == "__main__":
    main()
